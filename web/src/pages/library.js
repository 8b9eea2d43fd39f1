// library.js - the models the signed-in user bought (GET /api/v1/library,
// from the chain index), each with the files of its latest version.

import { api, seg } from '../api.js';
import { h, mount } from '../dom.js';
import { emptyState, errorAlert, setTitle, spinner } from '../components.js';
import { formatBytes, formatPrice } from '../format.js';
import { requireUser } from '../auth.js';
import { shortAddress } from '../chaininfo.js';

const STATUS = {
  escrowed: ['text-bg-info', 'Active (in escrow)'],
  disputed: ['text-bg-warning', 'Disputed'],
  released: ['text-bg-success', 'Active'],
  refunded: ['text-bg-secondary', 'Refunded'],
};

export function statusBadge(status) {
  const [cls, text] = STATUS[status] || ['text-bg-secondary', status];
  return h(`span.badge.${cls}`, text);
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
      p.status === 'refunded' ? null
        : h('a.btn.btn-sm.btn-outline-primary.ms-auto.file-download', {
          href: `/api/v1${seg`/models/${owner}/${slug}/versions/${v.version}/files/${f.name}`}`, download: f.name,
          'aria-label': `Download ${f.name} of ${owner}/${slug}`,
        }, 'Download')))));
  } catch (err) {
    if (err.name !== 'AbortError') mount(box, h('p.small.text-danger.mb-0', err.status === 404 ? 'This listing is no longer public on this node.' : err.message));
  }
}

export async function libraryPage({ main, signal }) {
  setTitle('Library');
  if (!requireUser(main, 'see your library')) return;
  const box = h('div', spinner('Loading your purchases\u2026'));
  mount(main,
    h('h1.h3', 'Library'),
    h('p.text-body-secondary', 'The models you hold a licence for, with their downloads. Purchases count when the wallet that paid is linked to your account.'),
    box);
  let r;
  try {
    r = await api('GET', '/library', { signal });
  } catch (err) {
    if (err.name !== 'AbortError') mount(box, errorAlert(err, () => libraryPage({ main, signal })));
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
  mount(box, h('div.row.row-cols-1.row-cols-md-2.g-3', { id: 'library-list' }, r.items.map((p) => {
    const files = h('div', p.model ? spinner('Loading files\u2026') : h('p.small.text-body-secondary.mb-0', 'This model is not listed on this node.'));
    if (p.model) filesOf(p, files, signal);
    const title = p.model ? `${p.model.owner}/${p.model.slug}` : `Model token #${p.token_id}`;
    return h('div.col', h('article.card.h-100.library-item', h('div.card-body',
      h('div.d-flex.flex-wrap.align-items-center.gap-2.mb-2',
        h('h2.h6.mb-0.text-break', p.model ? h('a', { href: `#/m/${encodeURIComponent(p.model.owner)}/${encodeURIComponent(p.model.slug)}` }, title) : title),
        statusBadge(p.status)),
      h('p.small.text-body-secondary.mb-2', `${formatPrice(p.price)} \u00b7 purchase #${p.purchase_id} \u00b7 block ${p.block_number} \u00b7 from `,
        h('code', { title: p.buyer }, shortAddress(p.buyer))),
      files)));
  })));
}
