// purchase.js - EXTENSION POINT for the chain (issue 4) and storage
// (issue 3): buying a licence, downloading files, provenance.
//
// The node has no purchase, licence or download API yet. Each function here
// returns what the model page shows in the meantime: an honest statement of
// what is coming, never invented data. When the APIs land, replace the
// bodies (buyBox: connect the wallet from wallet.js, quote, send the
// purchase transaction, poll the licence; fileAction: GET the download
// route with progress) and the pages pick the change up unchanged.

import { h } from './dom.js';
import { formatPrice, isFree } from './format.js';

export function buyBox(model, viewer, idSuffix = '') {
  const noteId = `buy-note${idSuffix}`;
  if (isFree(model.price)) {
    return h('div',
      h('p.h4.mb-1', 'Free'),
      h('p.small.text-body-secondary.mb-2', `Licence: ${model.license || 'not stated'}.`),
      h('button.btn.btn-success.w-100', { type: 'button', disabled: true, 'aria-describedby': noteId }, 'Download'),
      h('p.small.text-body-secondary.mt-2.mb-0', { id: noteId }, 'File downloads are coming with content-addressed storage.'));
  }
  const own = viewer && viewer.username === model.owner;
  return h('div',
    h('p.h4.mb-1', formatPrice(model.price)),
    h('p.small.text-body-secondary.mb-2', `One licence, ${model.license || 'terms in the card'}.`),
    h('button.btn.btn-primary.w-100', { type: 'button', disabled: true, 'aria-describedby': noteId }, own ? 'Your model' : 'Buy licence'),
    h('p.small.text-body-secondary.mt-2.mb-0', { id: noteId }, 'Coming with on-chain purchases: pay from your wallet, the licence is recorded on chain and unlocks the files.'));
}

// What a file row offers: a download once storage serves files; the CID
// (when the storage layer has filled it in) is shown beside it.
export function fileAction(/* model, version, file */) {
  return h('span.small.text-body-secondary', 'Download soon');
}

export function provenance(/* model */) {
  return h('p.small.text-body-secondary.mb-0', 'On-chain provenance (registry token, parents, dataset hashes) is coming with the chain integration.');
}
