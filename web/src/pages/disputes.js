// disputes.js (page) - the arbitrator's view (#/disputes): the newest
// disputes with their purchases and reasons, and for each one waiting, the
// ruling (refund the buyer or release to the seller), sent from the
// connected wallet when it holds the marketplace's arbitrator role. Also
// the card that leads there from the dashboard and the wallet page, shown
// only to that wallet.

import { h, mount } from '../dom.js';
import { emptyState, errorAlert, setTitle, spinner, toast } from '../components.js';
import { formatPrice } from '../format.js';
import { stepList } from '../purchase.js';
import { reasonQuote } from './library.js';
import { markArbiter } from '../chaininfo.js';
import {
  chainInfo, chainReady, explainError, onWalletChange, restoreWallet, shortAddress, wallet,
} from '../chain.js';
import {
  RULING_REFUND, RULING_RELEASE, arbitratorRole, recentDisputes, rule,
} from '../disputes.js';

const when = (secs) => new Date(secs * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function modelLink(d) {
  if (!d.model) return `token #${d.tokenId}`;
  const [owner, slug] = d.model.split('/');
  return h('a', { href: `#/m/${encodeURIComponent(owner)}/${encodeURIComponent(slug)}` }, d.model);
}

const addr = (a) => h('code', { title: a }, shortAddress(a));

// Fills `box` with a link to the Disputes view when the connected wallet
// holds the arbitrator role, and shows the navigation's link; empties and
// hides them otherwise (or when the chain cannot be read: the view itself
// says why).
export async function arbitratorCard(box, info) {
  mount(box);
  if (!wallet.address || !chainReady(info)) {
    markArbiter(null);
    return;
  }
  try {
    const role = await arbitratorRole(info, wallet.address);
    markArbiter(role.via ? wallet.address : null);
    if (!role.via) return;
    mount(box, h('div.card.border-warning.mb-3', { id: 'arbitrator-card' }, h('div.card-body.d-flex.flex-wrap.align-items-center.gap-3',
      h('div.flex-grow-1',
        h('h2.h6.mb-1', 'Arbitrator'),
        h('p.small.mb-0', role.via === 'direct'
          ? 'This wallet holds the marketplace\u2019s arbitrator role: it rules on disputed purchases.'
          : 'This wallet is an arbiter of the marketplace\u2019s arbitration panel: it rules on disputed purchases.')),
      h('a.btn.btn-outline-primary', { href: '#/disputes' }, 'Open the disputes'))));
  } catch { /* the card is a shortcut; the view reports errors */ }
}

// One dispute waiting for a ruling, with its two buttons.
function pendingCard(d, info, role, done) {
  const alertBox = h('div');
  const stepsBox = h('div');
  const price = formatPrice(d.price);
  // The visible words start each button's spoken name (WCAG 2.5.3).
  const refund = h('button.btn.btn-outline-danger.btn-sm.rule-refund', { type: 'button' },
    'Refund the buyer', h('span.visually-hidden', ` of dispute #${d.id}`));
  const release = h('button.btn.btn-outline-success.btn-sm.rule-release', { type: 'button' },
    'Release to the seller', h('span.visually-hidden', ` (dispute #${d.id})`));
  const act = async (ruling) => {
    const question = ruling === RULING_REFUND
      ? `Refund ${price} to the buyer of purchase #${d.purchaseId} and revoke their licence? A ruling is final.`
      : `Release ${price} of purchase #${d.purchaseId} to the seller? A ruling is final.`;
    if (!window.confirm(question)) return;
    mount(alertBox);
    const steps = stepList([['send', ruling === RULING_REFUND ? 'Send the refund ruling' : 'Send the release ruling'], ['confirmed', 'Confirmed on-chain']]);
    mount(stepsBox, steps.list);
    let current = 'send';
    refund.disabled = true;
    release.disabled = true;
    try {
      await rule(info, role, d.id, ruling, (key, state, note) => {
        if (state === 'active') current = key;
        steps.set(key, state, note);
      });
      toast(ruling === RULING_REFUND ? `Dispute #${d.id}: the buyer is refunded.` : `Dispute #${d.id}: the payment is released to the seller.`);
      done();
    } catch (err) {
      steps.set(current, 'failed', '');
      mount(alertBox, h('div.alert.alert-danger.small.mt-2.mb-0', { role: 'alert' }, err.status ? err.message : explainError(err)));
      refund.disabled = false;
      release.disabled = false;
    }
  };
  refund.addEventListener('click', () => act(RULING_REFUND));
  release.addEventListener('click', () => act(RULING_RELEASE));
  return h('div.col', h('article.card.h-100.dispute-card', { dataset: { dispute: String(d.id) } }, h('div.card-body',
    h('h3.h6', `Dispute #${d.id}`, h('span.text-body-secondary', ' \u00b7 '), modelLink(d)),
    h('dl.row.small.mb-2',
      h('dt.col-5.fw-normal.text-body-secondary', 'Purchase'), h('dd.col-7.mb-1', `#${d.purchaseId}, ${price}`),
      h('dt.col-5.fw-normal.text-body-secondary', 'Buyer'), h('dd.col-7.mb-1', addr(d.buyer)),
      h('dt.col-5.fw-normal.text-body-secondary', 'Seller'), h('dd.col-7.mb-1', addr(d.seller)),
      h('dt.col-5.fw-normal.text-body-secondary', 'Opened'), h('dd.col-7.mb-1', when(d.openedAt))),
    reasonQuote(d, 'Buyer\u2019s reason'),
    h('p.small.text-body-secondary.mb-2', 'A refund returns the whole payment to the buyer and revokes the licence; a release pays the seller, the fee and any royalties.'),
    h('div.d-flex.flex-wrap.gap-2', refund, release),
    stepsBox, alertBox)));
}

function ruledTable(items) {
  return h('div.table-responsive', h('table.table.table-sm.align-middle', { id: 'ruled-disputes' },
    h('caption', 'Ruled disputes, newest first'),
    h('thead', h('tr', ['Dispute', 'Model', 'Purchase', 'Ruling', 'Ruled', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', items.map((d) => h('tr', { dataset: { dispute: String(d.id) } },
      h('td', `#${d.id}`),
      h('td', modelLink(d)),
      h('td.text-nowrap', `#${d.purchaseId}, ${formatPrice(d.price)}`),
      h('td', d.ruling === 'refund' ? h('span.badge.text-bg-secondary', 'Refunded') : h('span.badge.text-bg-success', 'Released')),
      h('td.text-nowrap', when(d.ruledAt)),
      h('td.text-break.small', d.reason === null ? h('span.fst-italic', 'not found') : d.reason))))));
}

export async function disputesPage({ main, signal }) {
  setTitle('Disputes');
  const body = h('div', spinner('Loading the chain\u2026'));
  mount(main,
    h('h1.h3', 'Disputes'),
    h('p.text-body-secondary', 'Purchases whose buyers asked for their money back within the dispute window. The marketplace\u2019s arbitrator rules on each: refund the buyer, or release the payment to the seller.'),
    body);
  let info;
  try {
    info = await chainInfo({ fresh: true, signal });
  } catch (err) {
    if (err.name !== 'AbortError') mount(body, errorAlert(err, () => disputesPage({ main, signal })));
    return;
  }
  if (!chainReady(info)) {
    mount(body, emptyState('No chain on this node', 'Disputes are settled on-chain; this node follows no chain.'));
    return;
  }
  await restoreWallet(info);
  const render = async () => {
    if (signal.aborted) return;
    if (!wallet.kind) {
      markArbiter(null);
      mount(body, emptyState('Connect the arbitrator\u2019s wallet', 'Only the wallet that holds the marketplace\u2019s arbitrator role can rule on disputes.',
        h('a.btn.btn-primary', { href: '#/wallet' }, 'Open the Wallet page')));
      return;
    }
    mount(body, spinner('Reading the disputes\u2026'));
    try {
      const role = await arbitratorRole(info, wallet.address);
      if (signal.aborted) return;
      markArbiter(role.via ? wallet.address : null);
      if (!role.via) {
        mount(body, h('div.alert.alert-secondary', { id: 'not-arbitrator' },
          h('p.mb-1', 'The connected wallet ', h('code.text-break', wallet.address), ' does not hold the arbitrator role, so it cannot rule.'),
          h('p.mb-0', 'The marketplace\u2019s arbitrator is ', h('code.text-break', role.arbitrator), '. Connect that wallet (or, when it is an arbitration panel, one of its arbiters) on the ',
            h('a', { href: '#/wallet' }, 'Wallet page'), '.')));
        return;
      }
      const list = await recentDisputes(info);
      if (signal.aborted) return;
      const pending = list.items.filter((d) => d.ruling === 'pending');
      const ruled = list.items.filter((d) => d.ruling !== 'pending');
      mount(body,
        h('p.small', { id: 'arbitrator-state' },
          role.via === 'direct'
            ? ['This wallet (', h('code', { title: wallet.address }, shortAddress(wallet.address)), ') is the marketplace\u2019s arbitrator. ']
            : ['This wallet (', h('code', { title: wallet.address }, shortAddress(wallet.address)), ') is an arbiter of the arbitration panel ',
              h('code', { title: role.arbitrator }, shortAddress(role.arbitrator)), ', the marketplace\u2019s arbitrator: its rulings go through the panel. '],
          `${list.total} dispute${list.total === 1 ? '' : 's'} on-chain`,
          list.total > list.items.length ? `, the newest ${list.items.length} shown.` : '.'),
        h('section.mb-4', { 'aria-labelledby': 'pending-h' },
          h('h2.h5', { id: 'pending-h' }, `Waiting for a ruling (${pending.length})`),
          pending.length
            ? h('div.row.row-cols-1.row-cols-lg-2.g-3', { id: 'pending-disputes' }, pending.map((d) => pendingCard(d, info, role, render)))
            : emptyState('Nothing to rule', 'No dispute is waiting for a ruling.')),
        ruled.length ? h('section', { 'aria-labelledby': 'ruled-h' }, h('h2.h5', { id: 'ruled-h' }, 'Ruled'), ruledTable(ruled)) : null);
    } catch (err) {
      if (!signal.aborted) mount(body, h('div.alert.alert-danger', { role: 'alert' }, explainError(err)));
    }
  };
  const unsubscribe = onWalletChange(() => render());
  signal.addEventListener('abort', unsubscribe);
  await render();
}
