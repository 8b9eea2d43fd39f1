// purchase.js - buying a licence on the model page, per-file downloads and
// the on-chain provenance box.
//
// Buying: the price comes from the chain (the listing's indexed PriceSet,
// checked against Marketplace.priceOf just before paying); the wallet signs
// an EIP-2612 permit and sends Marketplace.buyWithPermit (one transaction,
// no separate approval); the UI then waits for the node's index to show the
// licence (GET /api/v1/library) before it unlocks the downloads.

import { api, seg } from './api.js';
import { h, mount } from './dom.js';
import { session } from './session.js';
import { formatPrice, isFree } from './format.js';
import { chainInfo, chainReady, linkedAddresses, shortAddress } from './chaininfo.js';

// The wallet code and ethers, loaded when a purchase or the chain is needed.
const walletCode = () => import('./chain.js');

const INDEX_WAIT_MS = 90000;

// Fills model.licence (the viewer's active purchase of this model, or
// null) before the page renders. Never throws: without it the page shows
// the Buy button, and the node still decides every download.
// model.refunded is the viewer's latest refunded purchase of it (shown
// as such beside the Buy button), or null.
export async function loadAccess(model, signal) {
  model.licence = null;
  model.refunded = null;
  if (!session.signedIn() || isFree(model.price) || !model.chain) return;
  try {
    const r = await api('GET', '/library', { signal });
    const mine = r.items.filter((p) => p.token_id === model.chain.token_id);
    model.licence = mine.find((p) => p.status !== 'refunded') || null;
    model.refunded = mine.find((p) => p.status === 'refunded') || null;
  } catch { /* shown as not licensed */ }
}

function canDownload(model) {
  return isFree(model.price) || Boolean(model.viewerOwns) || Boolean(model.licence);
}

function scrollToFiles() {
  const el = document.getElementById('ver-h');
  if (el) {
    el.scrollIntoView({ behavior: 'smooth', block: 'start' });
    el.setAttribute('tabindex', '-1');
    el.focus({ preventScroll: true });
  }
}

function filesButton(text) {
  return h('button.btn.btn-success.w-100', { type: 'button', onclick: scrollToFiles }, text);
}

// The progress of a transaction (a purchase, a dispute, a ruling): one
// line per step, announced as it changes. names: [[key, label], ...];
// set(key, 'pending' | 'active' | 'done' | 'failed', note?).
export function stepList(names) {
  const items = names.map(([key, label]) => h('li.buy-step.pending', { dataset: { step: key } },
    h('span.step-icon.me-1', { 'aria-hidden': 'true' }, '\u25cb'), h('span.step-label', label), h('span.visually-hidden.step-sr', ': to do'), h('span.step-note.small.text-body-secondary.ms-1')));
  const list = h('ol.list-unstyled.small.mb-0.mt-2.buy-steps', { 'aria-live': 'polite' }, items);
  const set = (key, state, note) => {
    const li = items.find((x) => x.dataset.step === key);
    if (!li) return;
    li.className = `buy-step ${state}`;
    li.querySelector('.step-icon').textContent = { pending: '\u25cb', active: '\u2026', done: '\u2713', failed: '\u2717' }[state];
    li.querySelector('.step-sr').textContent = { pending: ': to do', active: ': in progress', done: ': done', failed: ': failed' }[state];
    if (note !== undefined) li.querySelector('.step-note').textContent = note;
    if (state === 'active' || state === 'failed') li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  };
  return { list, set };
}

async function waitForLicence(model, txHash) {
  const until = Date.now() + INDEX_WAIT_MS;
  while (Date.now() < until) {
    try {
      const r = await api('GET', '/library');
      const p = r.items.find((x) => x.tx_hash === txHash.toLowerCase());
      if (p) return p;
    } catch { /* retry */ }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error('The purchase is on-chain, but the node has not indexed it yet. Reload in a minute: your licence will show.');
}

async function buy(model, box, button, alertBox) {
  const {
    balances, contracts, explainError, linkWallet, relayProvider, restoreWallet, signPermit, wallet,
  } = await walletCode();
  const price = BigInt(model.chain.price);
  const info = await chainInfo();
  await restoreWallet(info);
  if (!wallet.kind) {
    mount(alertBox, h('div.alert.alert-warning.small.mb-0', { role: 'alert' },
      'Connect a wallet first: ', h('a', { href: '#/wallet' }, 'open the Wallet page'), '.'));
    return;
  }
  const linked = await linkedAddresses();
  const needLink = !linked.includes(wallet.address.toLowerCase());
  const steps = stepList([
    ...(needLink ? [['link', 'Link the wallet to your account (signature)']] : []),
    ['sign', 'Sign the payment permit'],
    ['pending', 'Send the purchase'],
    ['confirmed', 'Confirmed on-chain'],
    ['indexing', 'Licence recorded by the node'],
  ]);
  mount(alertBox);
  box.append(steps.list);
  let step = needLink ? 'link' : 'sign';
  try {
    button.disabled = true;
    const p = relayProvider(info);
    const c = contracts(info, p);
    const [live, bal] = await Promise.all([c.market.priceOf(model.chain.token_id), balances(info, wallet.address)]);
    if (live === 0n) throw new Error('The seller has taken this model off sale on-chain.');
    if (live > price) throw new Error(`The price went up to ${formatPrice(live.toString())}. Reload the page to see it before buying.`);
    if (bal.tokens < live) {
      throw Object.assign(new Error(`This wallet holds ${formatPrice(bal.tokens.toString()).replace('Free', '0 AGR')}; the licence costs ${formatPrice(live.toString())}.`), { wallet: true });
    }
    if (bal.eth === 0n) throw Object.assign(new Error('This wallet has no ETH to pay for gas.'), { wallet: true });
    if (needLink) {
      steps.set('link', 'active');
      await linkWallet(info);
      steps.set('link', 'done');
      step = 'sign';
    }
    steps.set('sign', 'active');
    const permit = await signPermit(info, info.contracts.Marketplace, live);
    steps.set('sign', 'done');
    step = 'pending';
    steps.set('pending', 'active');
    const m = contracts(info, wallet.signer).market;
    const tx = await m.buyWithPermit(model.chain.token_id, live, permit.deadline, permit.v, permit.r, permit.s);
    steps.set('pending', 'done', shortAddress(tx.hash));
    step = 'confirmed';
    steps.set('confirmed', 'active');
    const rc = await tx.wait(1);
    if (!rc || rc.status !== 1) throw new Error('The purchase transaction failed on-chain.');
    steps.set('confirmed', 'done', `block ${rc.blockNumber}`);
    step = 'indexing';
    steps.set('indexing', 'active');
    model.licence = await waitForLicence(model, rc.hash);
    steps.set('indexing', 'done');
    if (model.onLicensed) model.onLicensed();
  } catch (err) {
    steps.set(step, 'failed');
    const msg = err.status ? err.message : (err.wallet ? err.message : explainError(err));
    mount(alertBox, h('div.alert.alert-danger.small.mb-0.mt-2', { role: 'alert' }, msg,
      err.wallet || /faucet|ETH|AGR/.test(msg) ? h('span', ' ', h('a', { href: '#/wallet' }, 'Go to your wallet')) : null));
    button.disabled = false;
  }
}

export function buyBox(model, viewer, idSuffix = '') {
  const noteId = `buy-note${idSuffix}`;
  const licence = model.license || 'terms in the card';
  if (isFree(model.price)) {
    return h('div',
      h('p.h4.mb-1', 'Free'),
      h('p.small.text-body-secondary.mb-2', `Licence: ${model.license || 'not stated'}.`),
      filesButton('Download files'));
  }
  const chainPrice = model.chain && model.chain.price && !isFree(model.chain.price) ? model.chain.price : null;
  const head = h('p.h4.mb-1', formatPrice(chainPrice || model.price));
  const sub = h('p.small.text-body-secondary.mb-2', `One licence, ${licence}.`);
  if (viewer && viewer.username === model.owner) {
    return h('div', head, sub,
      h('a.btn.btn-outline-primary.w-100', { href: '#/dashboard' }, 'Your model: see sales'),
      !model.chain ? h('p.small.text-body-secondary.mt-2.mb-0', 'Not on-chain yet: ',
        h('a', { href: `#/m/${encodeURIComponent(model.owner)}/${encodeURIComponent(model.slug)}/edit` }, 'publish it on-chain'), ' so people can buy it.') : null);
  }
  if (model.licence) {
    return h('div', head,
      h('p.mb-2', h('span.badge.text-bg-success', { id: `licence-badge${idSuffix}` }, '\u2713 You hold a licence')),
      filesButton('Download files'));
  }
  if (!model.chain || !chainPrice) {
    return h('div', head, sub,
      h('button.btn.btn-primary.w-100', { type: 'button', disabled: true, 'aria-describedby': noteId }, 'Buy licence'),
      h('p.small.text-body-secondary.mt-2.mb-0', { id: noteId }, model.chain
        ? 'The seller has not put this model on sale on-chain.'
        : 'Not for sale yet: the seller has not registered this model on-chain.'));
  }
  if (!viewer) {
    return h('div', head, sub,
      h('a.btn.btn-primary.w-100', { href: `#/login?next=${encodeURIComponent(location.hash)}` }, 'Log in to buy'));
  }
  const refundNote = model.refunded
    ? h('p.small.mb-2.refund-note', { id: `refund-note${idSuffix}` }, h('span.badge.text-bg-secondary.me-1', 'Refunded'),
      `Your purchase #${model.refunded.purchase_id} was refunded after a dispute and its licence revoked: downloads are refused. `,
      h('a', { href: '#/library' }, 'See your library'), '.')
    : null;
  const alertBox = h('div');
  const box = h('div');
  const button = h('button.btn.btn-primary.w-100.buy-btn', { type: 'button', 'aria-describedby': noteId }, `Buy licence for ${formatPrice(chainPrice)}`);
  button.addEventListener('click', async () => {
    box.replaceChildren();
    try {
      const info = await chainInfo();
      if (!chainReady(info)) throw new Error('This node does not follow the chain right now.');
      await buy(model, box, button, alertBox);
    } catch (err) {
      const msg = err.status ? err.message : (await walletCode().catch(() => null))?.explainError(err) || err.message;
      mount(alertBox, h('div.alert.alert-danger.small.mb-0.mt-2', { role: 'alert' }, msg));
    }
  });
  return h('div', head, sub, refundNote, button,
    h('p.small.text-body-secondary.mt-2.mb-0', { id: noteId }, 'Paid in AGR from your wallet; one signature and one transaction. The payment is held in escrow for the dispute window (you can dispute the purchase from your library meanwhile), then goes to the seller.'),
    box, alertBox);
}

// A file row's action: a download link when the viewer may download it.
export function fileAction(model, version, file) {
  if (!file.cid) return h('span.small.text-body-secondary', 'not uploaded');
  if (!canDownload(model)) return h('span.small.text-body-secondary', 'Licence needed');
  const href = `/api/v1${seg`/models/${model.owner}/${model.slug}/versions/${version.version}/files/${file.name}`}`;
  return h('a.btn.btn-sm.btn-outline-primary.file-download', { href, download: file.name, 'aria-label': `Download ${file.name} (version ${version.version})` }, 'Download');
}

// The on-chain record of a listing: token, owner, versions with their
// content ids and hashes (read from the registry through the relay).
export function provenance(model) {
  const ch = model.chain;
  if (!ch) return h('p.small.text-body-secondary.mb-0', 'Not registered on-chain: ownership and versions are recorded by this node only.');
  const versions = h('div.small', h('span.placeholder.col-8'));
  const out = h('div',
    h('dl.row.small.mb-2',
      h('dt.col-5.fw-normal.text-body-secondary', 'Token'), h('dd.col-7.mb-1', `#${ch.token_id}`),
      h('dt.col-5.fw-normal.text-body-secondary', 'Owner'), h('dd.col-7.mb-1', h('code', { title: ch.owner }, shortAddress(ch.owner))),
      h('dt.col-5.fw-normal.text-body-secondary', 'Registered'), h('dd.col-7.mb-1', `block ${ch.registered_block}`),
      h('dt.col-5.fw-normal.text-body-secondary', 'Versions'), h('dd.col-7.mb-1', String(ch.versions))),
    versions);
  (async () => {
    try {
      const info = await chainInfo();
      const { contracts, relayProvider } = await walletCode();
      const list = await contracts(info, relayProvider(info)).registry.getVersions(ch.token_id);
      if (!list.length) {
        mount(versions);
        return;
      }
      mount(versions, h('ul.list-unstyled.mb-0.provenance-versions', list.map((v) => h('li.mb-2',
        h('div.fw-semibold', `v${v.version}`),
        h('div.text-break', 'CID ', h('code', v.contentCID)),
        h('div.text-break', 'SHA-256 ', h('code', { title: v.sha256Hash }, `${v.sha256Hash.slice(2, 18)}\u2026`)),
        v.parentModelIds.length ? h('div', `Derived from token${v.parentModelIds.length > 1 ? 's' : ''} ${v.parentModelIds.map((x) => `#${x}`).join(', ')}`) : null))));
    } catch {
      mount(versions, h('span.text-body-secondary', 'The chain could not be read just now.'));
    }
  })();
  return out;
}
