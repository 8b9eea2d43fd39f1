// dashboard.js - the seller dashboard: sales from the chain index (GET
// /api/v1/sales), earnings over time as a Chart.js line chart, withdrawing
// from the marketplace's escrow and credits, and the seller's listings with
// their likes, downloads and ratings.

import { api } from '../api.js';
import { h, mount } from '../dom.js';
import { session } from '../session.js';
import { busy, emptyState, errorAlert, modelHref, setTitle, spinner, stars, toast } from '../components.js';
import { formatCount, formatPrice } from '../format.js';
import { requireUser } from '../auth.js';
import { barChart, lineChart } from '../chart.js';
import { reasonQuote, statusBadge } from './library.js';
import { arbitratorCard } from './disputes.js';
import {
  chainInfo, chainReady, contracts, explainError, relayProvider, restoreWallet, shortAddress, wallet,
} from '../chain.js';
import { disputesOf } from '../disputes.js';

const sellerShare = (s) => BigInt(s.price) - BigInt(s.fee) - BigInt(s.royalty);
const asTokens = (wei) => Number(wei / 10n ** 12n) / 1e6; // for the chart only

function statCard(label, value, id) {
  return h('div.col-6.col-lg-3', h('div.card.h-100', h('div.card-body',
    h('div.small.text-body-secondary', label), h('div.h5.mb-0', { id }, value))));
}

// Day labels for the sales' blocks (timestamps read through the relay; at
// most 60 distinct blocks, the rest labelled by block number).
async function blockDays(info, sales) {
  const days = new Map();
  try {
    const p = relayProvider(info);
    const blocks = [...new Set(sales.map((s) => s.block_number))].slice(0, 60);
    const got = await Promise.all(blocks.map((b) => p.getBlock(b)));
    got.forEach((b, i) => {
      if (b) days.set(blocks[i], new Date(b.timestamp * 1000).toISOString().slice(0, 10));
    });
  } catch { /* labelled by block */ }
  return (s) => days.get(s.block_number) || `block ${s.block_number}`;
}

const when = (secs) => new Date(secs * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

// What a sale's dispute says, under its status: the buyer's reason, and the
// ruling when there is one.
function disputeNote(d) {
  const head = d.ruling === 'pending'
    ? `Dispute #${d.id}, opened ${when(d.openedAt)}: in escrow until the arbitrator rules.`
    : `Dispute #${d.id}: ${d.ruling === 'refund' ? 'refunded to the buyer' : 'released to you'} by the arbitrator on ${when(d.ruledAt)}.`;
  return [h('p.small.mb-1.mt-1', head), reasonQuote(d, 'Buyer\u2019s reason')];
}

// Fills the sales' dispute notes from the chain (sales not simply in escrow).
async function fillDisputeNotes(info, sales, notes, signal) {
  const wanted = sales.filter((s) => s.status !== 'escrowed' && notes.has(s.purchase_id));
  if (!wanted.length) return;
  try {
    const found = await disputesOf(info, wanted);
    if (signal.aborted) return;
    for (const s of wanted) {
      const d = found.get(String(s.purchase_id));
      mount(notes.get(s.purchase_id), d ? disputeNote(d) : null);
    }
  } catch {
    for (const s of wanted) mount(notes.get(s.purchase_id), h('p.small.text-body-secondary.mb-0', 'The dispute could not be read from the chain just now.'));
  }
}

async function salesSection(box, signal) {
  let r;
  let info = null;
  try {
    [r, info] = await Promise.all([api('GET', '/sales', { signal }), chainInfo({ signal }).catch(() => null)]);
  } catch (err) {
    if (err.name !== 'AbortError') mount(box, errorAlert(err, () => salesSection(box, signal)));
    return;
  }
  if (!r.chain) {
    mount(box, emptyState('No chain on this node', 'Sales are recorded on-chain; this node follows no chain.'));
    return;
  }
  const live = r.items.filter((s) => s.status !== 'refunded');
  const gross = live.reduce((a, s) => a + BigInt(s.price), 0n);
  const earned = live.reduce((a, s) => a + sellerShare(s), 0n);
  const escrow = live.filter((s) => s.status === 'escrowed' || s.status === 'disputed').reduce((a, s) => a + sellerShare(s), 0n);
  const withdrawBox = h('div');
  const parts = [
    h('div.row.g-3.mb-3',
      statCard('Licences sold', formatCount(live.length), 'stat-sales'),
      statCard('Gross sales', formatPrice(gross.toString()).replace('Free', '0 AGR'), 'stat-gross'),
      statCard('Your earnings', formatPrice(earned.toString()).replace('Free', '0 AGR'), 'stat-earned'),
      statCard('Still in escrow', formatPrice(escrow.toString()).replace('Free', '0 AGR'), 'stat-escrow')),
    withdrawBox,
  ];
  if (!r.items.length) {
    parts.push(emptyState('No sales yet', 'Sales of models you published on-chain from a wallet linked to your account show here.',
      h('a.btn.btn-outline-secondary', { href: '#/wallet' }, 'Link a wallet')));
    mount(box, ...parts);
    if (info && chainReady(info)) withdrawPanel(withdrawBox, info, r.items, () => salesSection(box, signal));
    return;
  }
  const canvas = h('canvas', { id: 'revenue-chart', role: 'img', 'aria-label': 'Your cumulative earnings in AGR over time' });
  const disputed = r.items.filter((s) => s.status === 'disputed');
  if (disputed.length) {
    parts.push(h('div.alert.alert-warning.small', { id: 'disputed-note' },
      `${disputed.length} sale${disputed.length === 1 ? ' is' : 's are'} disputed by the buyer: the payment stays in escrow until the marketplace\u2019s arbitrator rules (refund to the buyer, or release to you). The buyer\u2019s reason is in the table.`));
  }
  parts.push(h('div.card.mb-3', h('div.card-body', h('h3.h6', 'Earnings over time'), h('div.chart-box', canvas))));
  const notes = new Map();
  let released = 0;
  // Disputes are read for every disputed or refunded sale and the newest
  // 20 released ones (a release may follow a ruling).
  const statusCell = (s) => {
    if (s.status === 'escrowed' || (s.status === 'released' && (released += 1) > 20)) return h('td', statusBadge(s.status));
    const note = h('div.dispute-note', s.status === 'released' ? null : spinner('Reading the dispute\u2026'));
    notes.set(s.purchase_id, note);
    return h('td', statusBadge(s.status), note);
  };
  parts.push(h('div.table-responsive', h('table.table.table-sm.align-middle', { id: 'sales-table' },
    h('caption', 'Sales, newest first'),
    h('thead', h('tr', ['Model', 'Buyer', 'Price', 'Your share', 'Status', 'Block'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', r.items.map((s) => h('tr',
      h('td', s.model ? h('a', { href: modelHref(s.model) }, `${s.model.owner}/${s.model.slug}`) : `token #${s.token_id}`),
      h('td', h('code', { title: s.buyer }, shortAddress(s.buyer))),
      h('td.text-nowrap', formatPrice(s.price)),
      h('td.text-nowrap', formatPrice(sellerShare(s).toString())),
      statusCell(s),
      h('td', String(s.block_number))))))));
  mount(box, ...parts);
  if (info && chainReady(info)) {
    fillDisputeNotes(info, r.items, notes, signal);
    withdrawPanel(withdrawBox, info, r.items, () => salesSection(box, signal));
    const label = await blockDays(info, r.items);
    const byDay = new Map();
    for (const s of [...live].reverse()) byDay.set(label(s), (byDay.get(label(s)) || 0n) + sellerShare(s));
    let sum = 0n;
    const labels = [...byDay.keys()];
    const data = labels.map((d) => {
      sum += byDay.get(d);
      return asTokens(sum);
    });
    if (!signal.aborted) lineChart(canvas, labels, [{ label: 'Cumulative earnings (AGR)', data }], { yLabel: 'AGR' });
  }
}

// Withdrawing: Marketplace.balanceOf(wallet) is what settled sales credited;
// escrowed sales past their release time are released by claim(ids) in the
// same transaction.
async function withdrawPanel(box, info, sales, reload) {
  await restoreWallet(info);
  if (!wallet.kind) {
    mount(box, h('div.alert.alert-secondary.small', h('a', { href: '#/wallet' }, 'Connect your wallet'), ' to withdraw your earnings.'));
    return;
  }
  mount(box, spinner('Reading your balance in the marketplace\u2026'));
  try {
    const p = relayProvider(info);
    const c = contracts(info, p);
    // Escrow ends by the chain's clock, not this computer's.
    const [credited, head] = await Promise.all([c.market.balanceOf(wallet.address), p.getBlock('latest')]);
    const now = head ? head.timestamp : Math.floor(Date.now() / 1000);
    const mine = sales.filter((s) => s.seller === wallet.address.toLowerCase() && s.status === 'escrowed');
    const ready = mine.filter((s) => s.release_at <= now);
    const waiting = mine.filter((s) => s.release_at > now);
    const readyAmt = ready.reduce((a, s) => a + sellerShare(s), 0n);
    const nothing = credited === 0n && !ready.length;
    const btn = h('button.btn.btn-success', { type: 'button', id: 'withdraw-btn', disabled: nothing },
      nothing ? 'Nothing to withdraw yet' : `Withdraw ${formatPrice((credited + readyAmt).toString())}`);
    btn.addEventListener('click', async () => {
      try {
        await busy(btn, async () => {
          const m = contracts(info, wallet.signer).market;
          const tx = ready.length ? await m.claim(ready.map((s) => s.purchase_id)) : await m.withdraw();
          await tx.wait(1);
        });
        toast('Withdrawn to your wallet.');
        // Redraw once the node's index has the releases (or after 30 s).
        const ids = new Set(ready.map((s) => s.purchase_id));
        for (let i = 0; i < 60 && ids.size; i += 1) {
          const r = await api('GET', '/sales');
          if (!r.items.some((x) => ids.has(x.purchase_id) && x.status === 'escrowed')) break;
          await new Promise((res) => setTimeout(res, 500));
        }
        reload();
      } catch (err) {
        box.append(h('div.alert.alert-danger.small.mt-2', { role: 'alert' }, explainError(err)));
      }
    });
    const next = waiting.length ? Math.min(...waiting.map((s) => s.release_at)) : 0;
    mount(box, h('div.card.mb-3', h('div.card-body.d-flex.flex-wrap.align-items-center.gap-3',
      h('div.flex-grow-1',
        h('h3.h6.mb-1', 'Withdraw'),
        h('p.small.text-body-secondary.mb-0', { id: 'withdraw-note' }, `Wallet ${shortAddress(wallet.address)}: `,
          `${formatPrice(credited.toString()).replace('Free', '0 AGR')} credited`,
          ready.length ? `, ${formatPrice(readyAmt.toString())} ready to release` : '',
          waiting.length ? `; ${waiting.length} sale${waiting.length === 1 ? '' : 's'} in escrow until ${new Date(next * 1000).toLocaleString()} (the buyer\u2019s dispute window).` : '.')),
      btn)));
  } catch (err) {
    mount(box, h('div.alert.alert-danger.small', { role: 'alert' }, explainError(err)));
  }
}

async function listingsSection(box, signal) {
  try {
    const r = await api('GET', '/models', { query: { owner: session.user.username, sort: 'likes', limit: 100 }, signal });
    if (!r.items.length) {
      mount(box, emptyState('No listings yet', 'Listings you create appear here with their likes, downloads and ratings.',
        h('a.btn.btn-primary', { href: '#/publish' }, 'Publish a model')));
      return;
    }
    const canvas = h('canvas', { id: 'likes-chart', role: 'img', 'aria-label': 'Likes and downloads per listing' });
    mount(box,
      h('div.card.mb-3', h('div.card-body', h('h3.h6', 'Likes and downloads per listing'), h('div.chart-box', canvas))),
      h('div.table-responsive', h('table.table.align-middle', { id: 'dash-table' },
        h('caption.visually-hidden', 'Your listings'),
        h('thead', h('tr', ['Model', 'Visibility', 'Price', 'Likes', 'Downloads', 'Rating'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', r.items.map((m) => h('tr',
          h('td', h('a', { href: modelHref(m) }, m.title || m.slug)),
          h('td', m.visibility === 'public' ? 'public' : h('span.badge.text-bg-warning', m.visibility)),
          h('td.text-nowrap', formatPrice(m.price)),
          h('td', formatCount(m.likes)),
          h('td', formatCount(m.downloads)),
          h('td.text-nowrap', stars(m.rating, m.rating_count))))))));
    barChart(canvas, r.items.slice(0, 20).map((m) => m.title || m.slug), [
      { label: 'Likes', data: r.items.slice(0, 20).map((m) => m.likes) },
      { label: 'Downloads', data: r.items.slice(0, 20).map((m) => m.downloads) },
    ]);
  } catch (err) {
    if (err.name !== 'AbortError') mount(box, errorAlert(err, () => listingsSection(box, signal)));
  }
}

// The shortcut to the Disputes view, for the wallet that holds the
// arbitrator role.
async function arbitratorBox(box, signal) {
  try {
    const info = await chainInfo({ signal });
    if (!chainReady(info)) return;
    await restoreWallet(info);
    if (!signal.aborted) await arbitratorCard(box, info);
  } catch { /* a shortcut only */ }
}

export async function dashboardPage({ main, signal }) {
  setTitle('Seller dashboard');
  if (!requireUser(main, 'see your seller dashboard')) return;
  const salesBox = h('div', spinner('Loading your sales\u2026'));
  const arbBox = h('div');
  const listBox = h('div', spinner('Loading your listings\u2026'));
  mount(main,
    h('div.d-flex.flex-wrap.justify-content-between.align-items-center.gap-2.mb-3',
      h('h1.h3.mb-0', 'Seller dashboard'),
      h('a.btn.btn-primary', { href: '#/publish' }, 'Publish a model')),
    arbBox,
    h('section.mb-4', { 'aria-labelledby': 'sales-h' }, h('h2.h5', { id: 'sales-h' }, 'Sales'), salesBox),
    h('section', { 'aria-labelledby': 'dl-h' }, h('h2.h5', { id: 'dl-h' }, 'Your listings'), listBox));
  await Promise.all([salesSection(salesBox, signal), listingsSection(listBox, signal), arbitratorBox(arbBox, signal)]);
}
