// library.js - the models the signed-in user bought (GET /api/v1/library,
// from the chain index), each with the files of its latest version, and
// its dispute: "Open a dispute" while the purchase's dispute window is open
// (by the chain's clock), the dispute's state, reason and ruling after.

import { api, seg } from '../api.js';
import { h, mount, uid } from '../dom.js';
import {
  clearErrors, emptyState, errorAlert, field, formAlert, setTitle, showErrors, spinner, toast,
} from '../components.js';
import { formatBytes, formatPrice } from '../format.js';
import { requireUser } from '../auth.js';
import { chainInfo, chainReady, shortAddress } from '../chaininfo.js';
import { stepList } from '../purchase.js';

// The wallet code (ethers) and the dispute code, loaded when a purchase
// needs them.
const walletCode = () => Promise.all([import('../chain.js'), import('../disputes.js')]);

const STATUS = {
  escrowed: ['text-bg-info', 'Active (in escrow)'],
  disputed: ['text-bg-warning', 'Disputed'],
  released: ['text-bg-success', 'Active'],
  refunded: ['text-bg-secondary', 'Refunded'],
};

// Purchases whose dispute is read from the chain: every disputed or
// refunded one, and the newest released ones (a release may follow a
// ruling); the node's rate limit counts each read.
const RELEASED_LOOKUPS = 20;

export function statusBadge(status) {
  const [cls, text] = STATUS[status] || ['text-bg-secondary', status];
  return h(`span.badge.${cls}.status-badge`, text);
}

const when = (secs) => new Date(secs * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

// A dispute's reason as a quotation, or why it is missing.
export function reasonQuote(d, label = 'Reason') {
  return h('p.small.mb-1.dispute-reason',
    h('span.fw-semibold', `${label}: `),
    d.reason === null
      ? h('span.fst-italic', 'not found in the chain\u2019s recent blocks')
      : h('q.text-break', d.reason));
}

async function filesOf(p, box, signal) {
  const { owner, slug } = p.model;
  try {
    const r = await api('GET', seg`/models/${owner}/${slug}/versions`, { signal });
    const v = r.versions.find((x) => x.state === 'published');
    if (!v || !(v.files || []).length) {
      mount(box, h('p.small.text-body-secondary.mb-0', 'No published files yet.'));
      return;
    }
    mount(box, h('ul.list-unstyled.mb-0.small', v.files.filter((f) => f.cid).map((f) => h('li.d-flex.flex-wrap.gap-2.align-items-center.mb-1',
      h('code.text-break', f.name), h('span.text-body-secondary', `v${v.version} \u00b7 ${formatBytes(f.size)}`),
      p.status === 'refunded'
        ? h('span.ms-auto.text-body-secondary.download-refused', 'Download refused: licence revoked')
        : h('a.btn.btn-sm.btn-outline-primary.ms-auto.file-download', {
          href: `/api/v1${seg`/models/${owner}/${slug}/versions/${v.version}/files/${f.name}`}`, download: f.name,
          'aria-label': `Download ${f.name} of ${owner}/${slug}`,
        }, 'Download')))));
  } catch (err) {
    if (err.name !== 'AbortError') mount(box, h('p.small.text-danger.mb-0', err.status === 404 ? 'This listing is no longer public on this node.' : err.message));
  }
}

// "Open a dispute": a button that shows the form (the reason, checked as
// the contract checks it), then the transaction with its progress.
function disputeForm(p, info, code, reload) {
  const [chain, dz] = code;
  const formId = uid('dispute-form');
  const toggle = h('button.btn.btn-sm.btn-outline-danger.open-dispute', {
    type: 'button', 'aria-expanded': 'false', 'aria-controls': formId,
  }, 'Open a dispute');
  const reason = field({
    label: 'Why do you dispute this purchase?', name: 'reason', textarea: true, required: true,
    help: 'Stored publicly on-chain, up to 1,024 bytes. The payment stays in escrow until the arbitrator rules: a refund returns it to you and revokes your licence; a release pays the seller.',
    attrs: { rows: 3 },
  });
  const text = reason.querySelector('textarea');
  const count = h('div.form-text.mt-0.mb-2.reason-count', { 'aria-hidden': 'true' }, `0 / ${dz.MAX_REASON_BYTES.toLocaleString('en')} bytes`);
  reason.append(count);
  text.addEventListener('input', () => {
    const n = dz.reasonBytes(text.value);
    count.textContent = `${n.toLocaleString('en')} / ${dz.MAX_REASON_BYTES.toLocaleString('en')} bytes`;
    count.classList.toggle('text-danger', n > dz.MAX_REASON_BYTES);
  });
  const submit = h('button.btn.btn-danger.btn-sm', { type: 'submit' }, 'Send the dispute');
  const cancel = h('button.btn.btn-link.btn-sm', { type: 'button' }, 'Cancel');
  const stepsBox = h('div');
  const form = h('form.dispute-form.mt-2', { id: formId, novalidate: true, hidden: true, 'aria-label': `Dispute purchase #${p.purchase_id}` },
    reason, formAlert(), h('div.d-flex.flex-wrap.gap-2', submit, cancel), stepsBox);
  const show = (open) => {
    form.hidden = !open;
    toggle.hidden = open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) text.focus();
    else toggle.focus();
  };
  toggle.addEventListener('click', () => show(true));
  cancel.addEventListener('click', () => show(false));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const problem = dz.reasonProblem(text.value);
    if (problem) {
      showErrors(form, { field: 'reason', message: problem });
      return;
    }
    const alertBox = form.querySelector('.form-alert');
    const walletAlert = (...msg) => mount(alertBox, h('div.alert.alert-warning.small.mb-2', { role: 'alert' }, ...msg));
    await chain.restoreWallet(info);
    if (!chain.wallet.kind) {
      walletAlert('Connect the wallet that paid (', h('code', p.buyer), ') first: ', h('a', { href: '#/wallet' }, 'open the Wallet page'), '.');
      return;
    }
    if (chain.wallet.address.toLowerCase() !== p.buyer.toLowerCase()) {
      walletAlert('Only the wallet that paid (', h('code', p.buyer), ') can dispute this purchase; the connected wallet is ',
        h('code', chain.wallet.address), '. ', h('a', { href: '#/wallet' }, 'Switch wallets'), '.');
      return;
    }
    const steps = stepList([['send', 'Send the dispute'], ['confirmed', 'Confirmed on-chain'], ['indexing', 'Recorded by the node']]);
    mount(stepsBox, steps.list);
    let current = 'send';
    submit.disabled = true;
    cancel.disabled = true;
    text.readOnly = true;
    try {
      await dz.openDispute(info, p, text.value, (key, state, note) => {
        if (state === 'active') current = key;
        steps.set(key, state, note);
      });
      toast('Dispute opened: the payment stays in escrow until the arbitrator rules.');
      reload(p.purchase_id);
    } catch (err) {
      steps.set(current, 'failed', '');
      mount(alertBox, h('div.alert.alert-danger.small.mb-2', { role: 'alert' }, err.status ? err.message : chain.explainError(err)));
      submit.disabled = false;
      cancel.disabled = false;
      text.readOnly = false;
    }
  });
  return h('div',
    h('p.small.mb-2', `You can dispute this purchase until ${when(p.release_at)} (its escrow window).`),
    toggle, form);
}

// What a purchase shows about disputes: the form while its window is
// open, else the dispute's state and ruling, or nothing.
function disputeView(p, d, now, info, code, reload) {
  if (p.status === 'escrowed') {
    if (now < p.release_at) return disputeForm(p, info, code, reload);
    return h('p.small.text-body-secondary.mb-0', `The dispute window closed on ${when(p.release_at)}; the payment goes to the seller.`);
  }
  if (!d) return null;
  const opened = `Dispute #${d.id}, opened ${when(d.openedAt)}`;
  if (p.status === 'disputed' || d.ruling === 'pending') {
    return h('div.alert.alert-warning.small.mb-0.dispute-state', { tabindex: '-1', dataset: { ruling: 'pending' } },
      h('p.fw-semibold.mb-1', `${opened}: waiting for the arbitrator.`),
      reasonQuote(d, 'Your reason'),
      h('p.mb-0', 'The payment stays in escrow until the arbitrator rules: a refund returns it to you and revokes this licence; a release pays the seller and your licence stands.'));
  }
  if (d.ruling === 'refund') {
    return h('div.alert.alert-secondary.small.mb-0.dispute-state', { tabindex: '-1', dataset: { ruling: 'refund' } },
      h('p.fw-semibold.mb-1', `Refunded: the arbitrator ruled for you on ${when(d.ruledAt)}.`),
      h('p.mb-1', `${opened}. The ${formatPrice(p.price)} went back to `, h('code', { title: p.buyer }, shortAddress(p.buyer)),
        ' and the licence was revoked, so the node refuses its downloads.'),
      reasonQuote(d, 'Your reason'));
  }
  return h('div.alert.alert-light.border.small.mb-0.dispute-state', { tabindex: '-1', dataset: { ruling: 'release' } },
    h('p.fw-semibold.mb-1', `Released: the arbitrator ruled for the seller on ${when(d.ruledAt)}.`),
    h('p.mb-1', `${opened}. The payment went to the seller; your licence stands.`),
    reasonQuote(d, 'Your reason'));
}

// Reads the chain's clock and the purchases' disputes, then fills each
// purchase's slot.
async function fillDisputes(items, slots, signal, reload) {
  let code;
  let info;
  let now;
  let disputes;
  try {
    info = await chainInfo({ signal });
    if (!chainReady(info)) {
      for (const slot of slots.values()) mount(slot);
      return;
    }
    code = await walletCode();
    const dz = code[1];
    [now, disputes] = await Promise.all([
      dz.chainNow(info),
      dz.disputesOf(info, items.filter((p) => p.status !== 'escrowed' && slots.has(p.purchase_id))),
    ]);
  } catch (err) {
    if (err.name === 'AbortError' || signal.aborted) return;
    for (const slot of slots.values()) mount(slot, h('p.small.text-body-secondary.mb-0', 'The dispute state could not be read from the chain just now.'));
    return;
  }
  if (signal.aborted) return;
  for (const p of items) {
    const slot = slots.get(p.purchase_id);
    if (slot) mount(slot, disputeView(p, disputes.get(String(p.purchase_id)), now, info, code, reload));
  }
}

async function renderList(box, signal, focusPurchase) {
  let r;
  try {
    r = await api('GET', '/library', { signal });
  } catch (err) {
    if (err.name !== 'AbortError') mount(box, errorAlert(err, () => renderList(box, signal)));
    return;
  }
  if (!r.items.length) {
    mount(box, emptyState('No purchases yet', r.chain
      ? 'Licences bought from a wallet linked to your account appear here. Free models need no licence: download them from their page.'
      : 'This node follows no chain, so there are no purchases. Free models can be downloaded from their page.',
    h('div.d-flex.flex-wrap.gap-2.justify-content-center',
      h('a.btn.btn-primary', { href: '#/explore' }, 'Explore models'),
      r.chain ? h('a.btn.btn-outline-secondary', { href: '#/wallet' }, 'Link a wallet') : null)));
    return;
  }
  const slots = new Map();
  let released = 0;
  mount(box, h('div.row.row-cols-1.row-cols-md-2.g-3', { id: 'library-list' }, r.items.map((p) => {
    const files = h('div', p.model ? spinner('Loading files\u2026') : h('p.small.text-body-secondary.mb-0', 'This model is not listed on this node.'));
    if (p.model) filesOf(p, files, signal);
    let slot = null;
    if (r.chain && (p.status !== 'released' || (released += 1) <= RELEASED_LOOKUPS)) {
      slot = h('div.mb-2.dispute-slot', spinner('Reading the dispute window\u2026'));
      slots.set(p.purchase_id, slot);
    }
    const title = p.model ? `${p.model.owner}/${p.model.slug}` : `Model token #${p.token_id}`;
    return h('div.col', h('article.card.h-100.library-item', { dataset: { purchase: String(p.purchase_id) } }, h('div.card-body',
      h('div.d-flex.flex-wrap.align-items-center.gap-2.mb-2',
        h('h2.h6.mb-0.text-break', p.model ? h('a', { href: `#/m/${encodeURIComponent(p.model.owner)}/${encodeURIComponent(p.model.slug)}` }, title) : title),
        statusBadge(p.status)),
      h('p.small.text-body-secondary.mb-2', `${formatPrice(p.price)} \u00b7 purchase #${p.purchase_id} \u00b7 block ${p.block_number} \u00b7 from `,
        h('code', { title: p.buyer }, shortAddress(p.buyer))),
      slot,
      files)));
  })));
  if (slots.size) {
    await fillDisputes(r.items, slots, signal, (pid) => renderList(box, signal, pid));
    if (focusPurchase) {
      const el = box.querySelector(`.library-item[data-purchase="${focusPurchase}"] .dispute-state`);
      if (el) el.focus();
    }
  }
}

export async function libraryPage({ main, signal }) {
  setTitle('Library');
  if (!requireUser(main, 'see your library')) return;
  const box = h('div', spinner('Loading your purchases\u2026'));
  mount(main,
    h('h1.h3', 'Library'),
    h('p.text-body-secondary', 'The models you hold a licence for, with their downloads. Purchases count when the wallet that paid is linked to your account. While a purchase is in escrow you can dispute it.'),
    box);
  await renderList(box, signal);
}
