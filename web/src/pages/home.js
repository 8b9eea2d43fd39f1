// home.js - the front page: a search box, then featured (best rated),
// trending (most liked, most downloaded) and new listings.

import { api } from '../api.js';
import { h, mount } from '../dom.js';
import { emptyState, errorAlert, modelGrid, setTitle, skeletonGrid } from '../components.js';
import { go } from '../main.js';

function section(title, sub, sort, moreHref) {
  const body = h('div', skeletonGrid(3));
  const el = h('section.mb-5', { 'aria-labelledby': `h-${sort}` },
    h('div.d-flex.align-items-baseline.justify-content-between.mb-3.gap-3',
      h('div', h('h2.h4.mb-0', { id: `h-${sort}` }, title), h('p.small.text-body-secondary.mb-0', sub)),
      h('a.small.text-nowrap', { href: moreHref }, 'See all \u2192')),
    body);
  return { el, body };
}

async function fill(s, query, signal) {
  try {
    const r = await api('GET', '/models', { query, signal });
    mount(s.body, r.items.length ? modelGrid(r.items) : emptyState('Nothing here yet',
      'No model has been published on this node so far.',
      h('a.btn.btn-primary', { href: '#/publish' }, 'Publish the first one')));
    return r;
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    mount(s.body, errorAlert(err, () => fill(s, query, signal)));
    return null;
  }
}

export async function homePage({ main, signal }) {
  setTitle('');
  const q = h('input.form-control.form-control-lg', { type: 'search', id: 'home-q', name: 'q', placeholder: 'Search models: resnet, sentiment, whisper\u2026', autocomplete: 'off' });
  const hero = h('section.hero.rounded-4.p-4.p-md-5.mb-5',
    h('h1.display-6.fw-semibold', 'Find, share and trade AI models'),
    h('p.lead.mb-4', 'Agora is a decentralized marketplace: model files are content-addressed, licences live on chain, and every node serves the same catalogue.'),
    h('form.d-flex.flex-column.flex-sm-row.gap-2', { role: 'search', 'aria-label': 'Search the catalogue', onsubmit: (ev) => {
      ev.preventDefault();
      const v = q.value.trim();
      go(`#/explore${v ? `?q=${encodeURIComponent(v)}` : ''}`);
    } },
    h('label.visually-hidden', { for: 'home-q' }, 'Search models'), q,
    h('button.btn.btn-primary.btn-lg.px-4', { type: 'submit' }, 'Search')),
    h('div.stats.mt-3.small', { 'aria-live': 'polite' }));
  const featured = section('Featured', 'The best-rated models', 'rating', '#/explore?sort=rating');
  const liked = section('Trending', 'Most liked', 'likes', '#/explore?sort=likes');
  const downloaded = section('Most downloaded', 'What people use', 'downloads', '#/explore?sort=downloads');
  const fresh = section('New', 'Just published', 'newest', '#/explore?sort=newest');
  mount(main, hero, featured.el, liked.el, downloaded.el, fresh.el);
  const results = await Promise.all([
    fill(fresh, { sort: 'newest', limit: 6 }, signal),
    fill(featured, { sort: 'rating', limit: 3 }, signal),
    fill(liked, { sort: 'likes', limit: 3 }, signal),
    fill(downloaded, { sort: 'downloads', limit: 3 }, signal),
  ]);
  const [r] = results;
  if (r && r.total === 0) {
    // An empty node: one invitation instead of four empty sections.
    mount(main, hero, emptyState('Nothing here yet', 'No model has been published on this node so far.',
      h('a.btn.btn-primary', { href: '#/publish' }, 'Publish the first one')));
  }
  if (r) {
    const tasks = Object.keys(r.facets && r.facets.task ? r.facets.task : {}).length;
    mount(hero.querySelector('.stats'), `${r.total} model${r.total === 1 ? '' : 's'}`,
      tasks ? ` across ${tasks} task${tasks === 1 ? '' : 's'}` : '', ' on this node.');
  }
}
