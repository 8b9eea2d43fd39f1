// later.js - library, seller dashboard and wallet. They depend on the chain
// (issue 4) and storage (issue 3), which this node does not have yet: each
// shows what it will do, marked "coming", and only real numbers the API has
// today (the seller's listings and their likes, downloads and ratings).
//
// EXTENSION POINTS: libraryPage lists licences from the purchases API;
// dashboardPage adds sales and revenue over time (Chart.js line chart) and
// the withdraw button; walletPage connects an EIP-1193 wallet (ethers
// BrowserProvider) or, on the dev chain, a burner wallet with a faucet.

import { api } from '../api.js';
import { h, mount } from '../dom.js';
import { session } from '../session.js';
import { comingSoon, emptyState, errorAlert, modelHref, setTitle, spinner, stars } from '../components.js';
import { formatCount, formatPrice } from '../format.js';
import { requireUser } from '../auth.js';
import { barChart } from '../chart.js';

export async function libraryPage({ main }) {
  setTitle('Library');
  mount(main,
    h('h1.h3', 'Library'),
    h('p.text-body-secondary', 'The models you hold a licence for, with their downloads.'),
    comingSoon('Your purchased models', 'When you buy a licence, the model appears here with every version\u2019s files ready to download. Free models will be listed here too once downloads are recorded.'),
    h('p.mt-3', h('a', { href: '#/explore?free=1' }, 'Browse free models \u2192')));
}

export async function dashboardPage({ main, signal }) {
  setTitle('Seller dashboard');
  if (!requireUser(main, 'see your seller dashboard')) return;
  const box = h('div', spinner('Loading your listings\u2026'));
  mount(main,
    h('div.d-flex.flex-wrap.justify-content-between.align-items-center.gap-2.mb-3',
      h('h1.h3.mb-0', 'Seller dashboard'),
      h('a.btn.btn-primary', { href: '#/publish' }, 'Publish a model')),
    h('div.row.g-3.mb-4',
      h('div.col-md-6', comingSoon('Sales and revenue', 'Licences sold and revenue over time, charted per model, from the marketplace contract\u2019s events.')),
      h('div.col-md-6', comingSoon('Withdraw', 'Your earnings accumulate in the marketplace contract; withdraw them to your wallet from here.'))),
    h('section', { 'aria-labelledby': 'dl-h' }, h('h2.h5', { id: 'dl-h' }, 'Your listings'), box));
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
    if (err.name !== 'AbortError') mount(box, errorAlert(err, () => dashboardPage({ main, signal })));
  }
}

export async function walletPage({ main }) {
  setTitle('Wallet');
  mount(main,
    h('h1.h3', 'Wallet'),
    h('p.text-body-secondary', 'Pay for licences and receive your earnings with an Ethereum wallet.'),
    h('div.row.g-3',
      h('div.col-md-6', comingSoon('Connect a browser wallet', 'Use an injected EIP-1193 wallet (such as a browser extension) to sign in and pay.', 'Coming with the chain integration')),
      h('div.col-md-6', comingSoon('Burner wallet for the local chain', 'On the development chain, a wallet kept in this browser with a faucet button to get test tokens.', 'Coming with the chain integration'))),
    h('div.mt-3', comingSoon('Balances', 'Your token balance and licences held, read from the chain.', 'Coming with the chain integration')));
}
