// upload.js - EXTENSION POINT for storage (issue 3): uploading a version's
// files with progress bars and resume.
//
// The node has no upload route yet. uploadPanel() is what the version
// editor shows for a draft version; when the storage API lands, it becomes
// a file picker that sends chunks (with a <progress> per file, resuming from
// the last acknowledged offset) and then PATCHes the version's file list.

import { comingSoon } from './components.js';

export function uploadPanel(/* model, version */) {
  return comingSoon('Upload files',
    'Upload model files with progress and resume; each is chunked and content-addressed (CIDv1), encrypted first when the model is paid.',
    'Coming with content-addressed storage');
}
