// explore.js - search with filters, facet counts, sorts and keyset "load
// more" pagination. The whole search state lives in the URL
// (#/explore?q=..&task=..), so a search can be bookmarked and shared; so
// does how far the results were read (`pages=N` after "load more": the
// link opens with the same N pages shown, fetched in one request).

import { api } from '../api.js';
import { h, mount } from '../dom.js';
import { emptyState, errorAlert, modelGrid, setTitle, skeletonGrid, spinner } from '../components.js';
import { tokensToUnits } from '../format.js';

const SORTS = [
  ['relevance', 'Best match'], ['newest', 'Newest'], ['updated', 'Recently updated'],
  ['downloads', 'Most downloaded'], ['likes', 'Most liked'], ['rating', 'Best rated'],
  ['price_asc', 'Price: low to high'], ['price_desc', 'Price: high to low'],
];
const KEYS = ['q', 'task', 'library', 'license', 'tags', 'price_min', 'price_max', 'free', 'min_rating', 'sort'];
const PAGE = 12;
const MAX_PAGES = 8; // the API answers at most 101 items a request

function stateFrom(query) {
  const s = {};
  for (const k of KEYS) {
    const v = query.get(k);
    if (v) s[k] = v.slice(0, 256);
  }
  return s;
}

function pagesFrom(query) {
  const n = Number.parseInt(query.get('pages') || '1', 10);
  return Number.isInteger(n) ? Math.min(Math.max(n, 1), MAX_PAGES) : 1;
}

function hashOf(state, pages = 1) {
  const qs = new URLSearchParams();
  for (const k of KEYS) if (state[k]) qs.set(k, state[k]);
  if (pages > 1) qs.set('pages', String(pages));
  const s = qs.toString();
  return `#/explore${s ? `?${s}` : ''}`;
}

// The API query for a UI state; prices in the URL are in tokens.
function apiQuery(state, cursor, limit = PAGE) {
  const q = { limit, cursor };
  for (const k of ['q', 'task', 'library', 'license', 'tags', 'min_rating', 'sort']) if (state[k]) q[k] = state[k];
  if (state.free === '1') q.free = 'true';
  for (const k of ['price_min', 'price_max']) {
    if (state[k]) {
      const units = tokensToUnits(state[k]);
      if (units === null) {
        const e = new Error('Prices are numbers of tokens, such as 2 or 0.5.');
        e.field = k;
        throw e;
      }
      q[k] = units;
    }
  }
  if (!q.sort && !state.q) q.sort = 'likes';
  return q;
}

function facetList(title, key, counts, state, apply) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const active = state[key];
  const id = `facet-${key}`;
  return h('section.mb-3', { 'aria-labelledby': id },
    h('h2.h6.text-body-secondary.text-uppercase.small.fw-semibold', { id }, title),
    entries.length === 0 && !active ? h('p.small.text-body-secondary.mb-0', 'None in these results') : null,
    h('div.list-group.list-group-flush.facet-list',
      active && !counts[active] ? h('button.list-group-item.list-group-item-action.active.d-flex.justify-content-between',
        { type: 'button', 'aria-pressed': 'true', onclick: () => apply({ [key]: '' }) }, active, h('span', '\u00d7')) : null,
      entries.slice(0, 12).map(([name, n]) => {
        const on = active === name;
        return h(`button.list-group-item.list-group-item-action.d-flex.justify-content-between.align-items-center${on ? '.active' : ''}`,
          { type: 'button', 'aria-pressed': on ? 'true' : 'false', onclick: () => apply({ [key]: on ? '' : name }) },
          h('span.text-truncate', name), h('span.badge.rounded-pill.text-bg-secondary', { 'aria-label': `${n} models` }, String(n)));
      })));
}

export async function explorePage({ main, query, signal }) {
  let state = stateFrom(query);
  let pages = pagesFrom(query); // pages of PAGE results shown
  setTitle(state.q ? `Search: ${state.q}` : 'Explore models');

  const qInput = h('input.form-control', { type: 'search', id: 'ex-q', name: 'q', value: state.q || '', placeholder: 'Search models', autocomplete: 'off' });
  const sortSel = h('select.form-select.form-select-sm.w-auto', { id: 'ex-sort', name: 'sort', 'aria-label': 'Sort by' },
    SORTS.map(([v, t]) => h('option', { value: v, selected: (state.sort || (state.q ? 'relevance' : 'likes')) === v }, t)));
  const summary = h('p.mb-0.text-body-secondary', { 'aria-live': 'polite', id: 'ex-summary' });
  const chips = h('div.d-flex.flex-wrap.gap-2.mb-3', { id: 'ex-chips', 'aria-label': 'Active filters' });
  const results = h('div', skeletonGrid(6));
  const more = h('div.text-center.mt-4');
  const facets = h('div');
  const filterForm = h('form.filters', { 'aria-label': 'Filters' });

  const apply = (changes) => {
    state = { ...state, ...changes };
    for (const k of Object.keys(state)) if (!state[k]) delete state[k];
    pages = 1;
    history.pushState(null, '', hashOf(state));
    setTitle(state.q ? `Search: ${state.q}` : 'Explore models');
    load();
  };

  const tagsIn = h('input.form-control.form-control-sm', { id: 'ex-tags', name: 'tags', value: state.tags || '', placeholder: 'e.g. onnx, english' });
  const minIn = h('input.form-control.form-control-sm', { id: 'ex-price_min', name: 'price_min', inputmode: 'decimal', value: state.price_min || '', placeholder: 'Min' });
  const maxIn = h('input.form-control.form-control-sm', { id: 'ex-price_max', name: 'price_max', inputmode: 'decimal', value: state.price_max || '', placeholder: 'Max' });
  const freeIn = h('input.form-check-input', { type: 'checkbox', id: 'ex-free', name: 'free', checked: state.free === '1' });
  const ratingSel = h('select.form-select.form-select-sm', { id: 'ex-min_rating', name: 'min_rating' },
    [['', 'Any rating'], ['4', '4 stars & up'], ['3', '3 stars & up'], ['2', '2 stars & up'], ['1', '1 star & up']]
      .map(([v, t]) => h('option', { value: v, selected: (state.min_rating || '') === v }, t)));
  const filterErr = h('div.invalid-feedback.d-block', { id: 'ex-filter-err', 'aria-live': 'polite' });

  mount(filterForm,
    h('div.mb-3', h('label.form-label.small.fw-semibold', { for: 'ex-tags' }, 'Tags (all must match)'), tagsIn),
    h('fieldset.mb-3', h('legend.form-label.small.fw-semibold.fs-6', 'Price (tokens)'),
      h('div.d-flex.gap-2', h('label.visually-hidden', { for: 'ex-price_min' }, 'Minimum price'), minIn,
        h('label.visually-hidden', { for: 'ex-price_max' }, 'Maximum price'), maxIn)),
    h('div.form-check.mb-3', freeIn, h('label.form-check-label', { for: 'ex-free' }, 'Free models only')),
    h('div.mb-3', h('label.form-label.small.fw-semibold', { for: 'ex-min_rating' }, 'Minimum rating'), ratingSel),
    filterErr,
    h('div.d-flex.gap-2',
      h('button.btn.btn-sm.btn-primary', { type: 'submit' }, 'Apply filters'),
      h('a.btn.btn-sm.btn-outline-secondary', { href: '#/explore' }, 'Clear all')));
  filterForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    apply({ tags: tagsIn.value.trim(), price_min: minIn.value.trim(), price_max: maxIn.value.trim(),
      free: freeIn.checked ? '1' : '', min_rating: ratingSel.value });
  });
  freeIn.addEventListener('change', () => apply({ free: freeIn.checked ? '1' : '' }));
  ratingSel.addEventListener('change', () => apply({ min_rating: ratingSel.value }));
  sortSel.addEventListener('change', () => apply({ sort: sortSel.value }));

  const searchForm = h('form.d-flex.gap-2.mb-3', { role: 'search', 'aria-label': 'Search the catalogue', onsubmit: (ev) => {
    ev.preventDefault();
    apply({ q: qInput.value.trim() });
  } }, h('label.visually-hidden', { for: 'ex-q' }, 'Search models'), qInput,
  h('button.btn.btn-primary', { type: 'submit' }, 'Search'));

  const filtersId = 'ex-filters';
  mount(main,
    h('h1.h3.mb-3', 'Explore models'),
    searchForm,
    h('div.row.g-4',
      h('aside.col-lg-3', { 'aria-label': 'Filters and facets' },
        h('button.btn.btn-outline-secondary.btn-sm.d-lg-none.mb-2.w-100', { type: 'button', 'aria-controls': filtersId, 'aria-expanded': 'false',
          onclick: (ev) => {
            const box = document.getElementById(filtersId);
            const open = box.classList.toggle('d-none');
            ev.currentTarget.setAttribute('aria-expanded', String(!open));
          } }, 'Filters'),
        h('div.d-none.d-lg-block.filter-panel.p-3.rounded-3.border', { id: filtersId }, facets, filterForm)),
      h('div.col-lg-9',
        h('div.d-flex.flex-wrap.justify-content-between.align-items-center.gap-2.mb-3', summary,
          h('div.d-flex.align-items-center.gap-2', h('label.small.text-body-secondary', { for: 'ex-sort' }, 'Sort'), sortSel)),
        chips, results, more)));

  const LABELS = { q: 'Search', task: 'Task', library: 'Library', license: 'License', tags: 'Tags',
    price_min: 'Min price', price_max: 'Max price', free: 'Free only', min_rating: 'Rating \u2265' };
  function renderChips() {
    const active = Object.keys(LABELS).filter((k) => state[k]);
    mount(chips, active.map((k) => h('button.btn.btn-sm.btn-outline-secondary.rounded-pill', {
      type: 'button', 'aria-label': `Remove filter ${LABELS[k]} ${k === 'free' ? '' : state[k]}`.trim(),
      onclick: () => {
        if (k === 'q') qInput.value = '';
        apply({ [k]: '' });
      },
    }, k === 'free' ? LABELS[k] : `${LABELS[k]}: ${state[k]}`, h('span.ms-1', { 'aria-hidden': 'true' }, '\u00d7'))));
    chips.classList.toggle('d-none', active.length === 0);
  }

  let cursor = null;
  let seq = 0;

  async function load(append = false) {
    const mine = ++seq;
    if (!append) renderChips();
    filterErr.textContent = '';
    for (const el of filterForm.querySelectorAll('.is-invalid')) el.classList.remove('is-invalid');
    let q;
    try {
      q = apiQuery(state, append ? cursor : undefined, append ? PAGE : PAGE * pages);
    } catch (err) {
      const el = filterForm.querySelector(`[name="${err.field}"]`);
      if (el) el.classList.add('is-invalid');
      filterErr.textContent = err.message;
      mount(results, emptyState('Check the filters', err.message));
      mount(more);
      return;
    }
    if (!append) {
      mount(results, skeletonGrid(6));
      mount(more);
    } else {
      mount(more, spinner('Loading more\u2026'));
    }
    try {
      const r = await api('GET', '/models', { query: q, signal });
      if (mine !== seq) return;
      cursor = r.next_cursor;
      if (!append) {
        mount(summary, `${r.total} model${r.total === 1 ? '' : 's'}`, state.q ? ` for \u201c${state.q}\u201d` : '');
        mount(facets,
          facetList('Task', 'task', r.facets && r.facets.task, state, apply),
          facetList('Library / format', 'library', r.facets && r.facets.library, state, apply),
          facetList('License', 'license', r.facets && r.facets.license, state, apply));
        mount(results, r.items.length ? modelGrid(r.items) : emptyState('No models match',
          'Try fewer words, another spelling or fewer filters.',
          h('a.btn.btn-outline-primary', { href: '#/explore' }, 'Clear the search')));
      } else {
        results.querySelector('.row').append(...modelGrid(r.items).children);
        // The link now opens this far down (replaceState: no new history
        // entry, and the router does not reload the page).
        pages = Math.min(pages + 1, MAX_PAGES);
        history.replaceState(null, '', hashOf(state, pages));
      }
      mount(more, cursor ? h('button.btn.btn-outline-primary', { type: 'button', id: 'load-more', onclick: () => load(true) }, 'Load more') : null);
    } catch (err) {
      if (err.name === 'AbortError' || mine !== seq) return;
      if (err.field) {
        const el = filterForm.querySelector(`[name="${err.field}"]`) || main.querySelector(`[name="${err.field}"]`);
        if (el) el.classList.add('is-invalid');
        filterErr.textContent = err.message;
      }
      mount(append ? more : results, errorAlert(err, () => load(append)));
    }
  }

  await load();
}
