// upload.js - uploading a draft version's files: a progress bar per file,
// chunked PATCHes at the node's offset, pause and resume, and resuming
// after a reload.
//
// Protocol (docs/storage.md): POST .../versions/{v}/uploads {name, size}
// gives an id; PATCH /api/v1/uploads/{id} with Upload-Offset appends a
// chunk (204 with the new offset, 200 with {cid, sha256} after the last
// byte, 409 with the node's offset when ours is stale); GET tells the
// offset to resume from. Unfinished uploads are remembered in localStorage
// (id, file name, size and modification time, never the bytes): choosing
// the same file again after a reload continues where the node stopped.

import { ApiError, api, seg } from './api.js';
import { h, mount } from './dom.js';
import { session } from './session.js';
import { formatBytes } from './format.js';

const CHUNK = 4 * 1024 * 1024;
const RETRIES = 5;
const PENDING_KEY = 'agora.uploads';

function pendingAll() {
  try {
    const v = JSON.parse(localStorage.getItem(PENDING_KEY) || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

function pendingSave(all) {
  try {
    localStorage.setItem(PENDING_KEY, JSON.stringify(all));
  } catch { /* storage may be full or disabled: resuming after a reload is lost */ }
}

function pendingPut(id, entry) {
  const all = pendingAll();
  all[id] = entry;
  pendingSave(all);
}

function pendingDrop(id) {
  const all = pendingAll();
  delete all[id];
  pendingSave(all);
}

function pendingFor(model, version) {
  return Object.entries(pendingAll())
    .filter(([, e]) => e.owner === model.owner && e.slug === model.slug && e.version === version.version)
    .map(([id, e]) => ({ id, ...e }));
}

function errorFrom(xhr) {
  let e = {};
  try {
    e = JSON.parse(xhr.responseText).error || {};
  } catch { /* not JSON */ }
  return new ApiError(xhr.status, e.code || `http_${xhr.status}`, e.message || `The node answered ${xhr.status}.`, e.field);
}

// One PATCH: resolves {done, offset, file}; rejects with an ApiError, or
// with {network: true} when the connection failed, or {aborted: true}.
function patchChunk(id, offset, blob, onProgress, setXhr) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    setXhr(xhr);
    xhr.open('PATCH', `/api/v1/uploads/${encodeURIComponent(id)}`);
    xhr.setRequestHeader('Upload-Offset', String(offset));
    xhr.setRequestHeader('Content-Type', 'application/offset+octet-stream');
    if (session.csrf) xhr.setRequestHeader('X-CSRF-Token', session.csrf);
    xhr.upload.onprogress = (ev) => onProgress(offset + ev.loaded);
    xhr.onload = () => {
      const at = Number(xhr.getResponseHeader('Upload-Offset'));
      if (xhr.status === 204) resolve({ done: false, offset: at });
      else if (xhr.status === 200) {
        try {
          resolve({ done: true, file: JSON.parse(xhr.responseText) });
        } catch {
          reject(new ApiError(200, 'bad_reply', 'The node sent a reply that is not JSON.'));
        }
      } else if (xhr.status === 409 && Number.isFinite(at) && xhr.getResponseHeader('Upload-Offset') !== null) {
        resolve({ done: false, offset: at, conflict: true });
      } else reject(errorFrom(xhr));
    };
    xhr.onerror = () => reject(Object.assign(new Error('The connection to the node failed.'), { network: true }));
    xhr.onabort = () => reject(Object.assign(new Error('Paused.'), { aborted: true }));
    xhr.send(blob);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A row for one file: progress bar, state, pause/resume.
function fileRow(file) {
  const bar = h('div.progress-bar');
  const progress = h('div.progress.upload-progress', {
    role: 'progressbar', 'aria-label': `Upload of ${file.name}`, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
  }, bar);
  const state = h('span.small.upload-state', { 'aria-live': 'polite' }, 'Waiting\u2026');
  const pause = h('button.btn.btn-sm.btn-outline-secondary', { type: 'button', 'aria-label': `Pause the upload of ${file.name}` }, 'Pause');
  const el = h('li.list-group-item.upload-row', { dataset: { name: file.name } },
    h('div.d-flex.flex-wrap.align-items-center.gap-2.mb-1',
      h('code.text-break', file.name), h('span.small.text-body-secondary', formatBytes(file.size)),
      h('span.ms-auto', state), pause),
    progress);
  const set = (done) => {
    const pct = file.size ? Math.min(100, Math.floor((done / file.size) * 100)) : 100;
    bar.style.width = `${pct}%`; // CSSOM, which the CSP allows (no style attribute in markup)
    progress.setAttribute('aria-valuenow', String(pct));
    progress.setAttribute('aria-valuetext', `${pct}% (${formatBytes(done)} of ${formatBytes(file.size)})`);
    return pct;
  };
  return { el, bar, state, pause, set };
}

async function startUpload(model, version, file) {
  const known = pendingFor(model, version).find((e) => e.name === file.name && e.size === file.size && e.lastModified === file.lastModified);
  if (known) {
    try {
      const u = await api('GET', `/uploads/${encodeURIComponent(known.id)}`);
      return { id: known.id, offset: u.offset, resumed: true };
    } catch (err) {
      if (err.status !== 404) throw err;
      pendingDrop(known.id); // expired or finished elsewhere: start over
    }
  }
  const u = await api('POST', seg`/models/${model.owner}/${model.slug}/versions/${version.version}/uploads`,
    { body: { name: file.name, size: file.size } });
  pendingPut(u.id, { owner: model.owner, slug: model.slug, version: version.version, name: file.name, size: file.size, lastModified: file.lastModified, at: Date.now() });
  return { id: u.id, offset: u.offset || 0, resumed: false };
}

// Uploads `file` into the row, resuming when possible. Resolves with the
// stored file ({cid, sha256, ...}) or null when paused; throws on errors.
async function runUpload(model, version, file, row, control) {
  const { id, offset: start, resumed } = await startUpload(model, version, file);
  let offset = start;
  let failures = 0;
  row.set(offset);
  row.state.textContent = resumed ? `Resuming at ${row.set(offset)}%\u2026` : 'Uploading\u2026';
  for (;;) {
    if (control.paused) return null;
    const blob = file.slice(offset, Math.min(file.size, offset + CHUNK));
    try {
      const r = await patchChunk(id, offset, blob, (n) => {
        const pct = row.set(n);
        row.state.textContent = `${pct}%`;
      }, (x) => { control.xhr = x; });
      failures = 0;
      if (r.done) {
        pendingDrop(id);
        row.set(file.size);
        return r.file;
      }
      offset = r.offset;
      if (r.conflict) await sleep(300); // another request still held the upload
    } catch (err) {
      if (err.aborted) return null;
      if (!err.network || failures >= RETRIES) throw err;
      failures += 1;
      row.state.textContent = `Connection lost; retrying (${failures}/${RETRIES})\u2026`;
      await sleep(500 * 2 ** failures);
      const u = await api('GET', `/uploads/${encodeURIComponent(id)}`);
      offset = u.offset;
    }
  }
}

function uploadOne(model, version, file, list, onDone) {
  const row = fileRow(file);
  const control = { paused: false, xhr: null };
  list.append(row.el);
  const go = async () => {
    control.paused = false;
    row.pause.textContent = 'Pause';
    row.pause.setAttribute('aria-label', `Pause the upload of ${file.name}`);
    row.el.classList.remove('paused');
    try {
      const stored = await runUpload(model, version, file, row, control);
      if (!stored) return;
      row.bar.classList.add('bg-success');
      mount(row.state, h('span.text-success', '\u2713 Stored'), ' ', h('code.small.text-break', stored.cid || ''));
      row.pause.remove();
      if (onDone) onDone(stored);
    } catch (err) {
      row.bar.classList.add('bg-danger');
      mount(row.state, h('span.text-danger', { role: 'alert' }, err.message));
      row.pause.textContent = 'Retry';
      row.pause.setAttribute('aria-label', `Retry the upload of ${file.name}`);
      control.paused = true;
    }
  };
  row.pause.addEventListener('click', () => {
    if (control.paused) {
      go();
      return;
    }
    control.paused = true;
    if (control.xhr) control.xhr.abort();
    row.el.classList.add('paused');
    row.state.textContent = 'Paused';
    row.pause.textContent = 'Resume';
    row.pause.setAttribute('aria-label', `Resume the upload of ${file.name}`);
  });
  go();
}

// The upload panel of a draft version. onDone() runs when every file chosen
// so far is stored.
export function uploadPanel(model, version, onDone) {
  const inputId = `upl-${version.id || version.version}`.replace(/[^\w-]/g, '-');
  const input = h('input.form-control', { type: 'file', id: inputId, multiple: true, name: 'files' });
  const list = h('ul.list-group.mt-2.upload-list');
  const pendingBox = h('div');
  const renderPending = () => {
    const p = pendingFor(model, version);
    if (!p.length) {
      mount(pendingBox);
      return;
    }
    mount(pendingBox, h('div.alert.alert-info.small.mt-2.mb-0',
      h('p.mb-1', 'Unfinished uploads: choose the same file again to continue where it stopped.'),
      h('ul.mb-0', p.map((e) => {
        const discard = h('button.btn.btn-link.btn-sm.p-0.ms-2', { type: 'button', 'aria-label': `Discard the unfinished upload of ${e.name}` }, 'Discard');
        discard.addEventListener('click', async () => {
          try {
            await api('DELETE', `/uploads/${encodeURIComponent(e.id)}`);
          } catch (err) {
            if (err.status !== 404) return;
          }
          pendingDrop(e.id);
          renderPending();
        });
        return h('li.pending-upload', h('code', e.name), ` (${formatBytes(e.size)})`, discard);
      }))));
  };
  let active = 0;
  input.addEventListener('change', () => {
    for (const f of input.files) {
      active += 1;
      uploadOne(model, version, f, list, () => {
        active -= 1;
        renderPending();
        // Refreshing the version re-renders this panel: only once nothing runs.
        if (active === 0 && onDone) onDone();
      });
    }
    input.value = '';
    renderPending();
  });
  renderPending();
  return h('div.upload-panel',
    h('label.form-label.small.fw-semibold', { for: inputId }, `Add files to v${version.version}`),
    input,
    h('div.form-text', 'Files are sent in 4 MB pieces; if the connection drops, the upload continues from the last piece the node stored. Paid models are encrypted before they are stored.'),
    pendingBox, list);
}
