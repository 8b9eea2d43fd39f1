// health.js - tells the user when the node runs degraded, from GET /healthz:
// its IPFS node (Kubo) cannot be reached, so files are served from the
// node's own storage alone (the "local storage fallback"), or its chain node
// cannot be reached, so purchases and licences cannot be checked on chain.
// Checked at boot and every minute; the banner goes when the cause does.

import { h, mount } from './dom.js';

const EVERY_MS = 60000;

function notices(health) {
  const out = [];
  const storage = health && health.storage;
  if (storage && storage.fallback) {
    const n = Number(storage.kubo_pending) || 0;
    out.push(['storage', 'Local storage only.',
      ' This node cannot reach its IPFS node right now: every file here still downloads and is'
      + ' verified, but new uploads are kept on this node until the IPFS node is back'
      + (n > 0 ? ` (${n} file${n === 1 ? '' : 's'} waiting to be pinned).` : '.')]);
  }
  const chain = health && health.chain;
  if (chain && chain.status === 'error') {
    out.push(['chain', 'The blockchain is out of reach.',
      ' Buying, publishing on chain and licence checks may fail until the node reaches its chain'
      + ' again; browsing and free downloads work.']);
  }
  return out;
}

async function check(box) {
  let health = null;
  try {
    const res = await fetch('/healthz', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    health = await res.json(); // 503 answers carry the same document
  } catch {
    return; // the node itself is unreachable: the pages say so on their own
  }
  const list = notices(health);
  box.hidden = list.length === 0;
  mount(box, list.map(([what, title, text]) => h('div.alert.alert-warning.mb-0.rounded-0.border-0.border-bottom.py-2',
    { role: 'status', 'data-health': what },
    h('div.container', h('strong', title), text))));
}

// Starts watching; `box` is the empty banner element under the header.
export function watchHealth(box) {
  if (!box) return;
  check(box);
  setInterval(() => check(box), EVERY_MS);
}
