// model.js - a listing: header with likes and price, the model card
// rendered safely from Markdown with its front matter as badges, versions
// with their files, reviews with stars and a review form.

import { api, seg } from '../api.js';
import { h, mount } from '../dom.js';
import { session } from '../session.js';
import {
  pageState,
  busy, clearErrors, emptyState, errorAlert, field, formAlert, priceBadge, setTitle, showErrors,
  spinner, stars, taskBadge, toast, userHref,
} from '../components.js';
import { formatBytes, formatCount, formatDate, timeAgo } from '../format.js';
import { renderMarkdown, splitFrontMatter } from '../markdown.js';
import { buyBox, fileAction, loadAccess, provenance } from '../purchase.js';

function metaBadges(meta) {
  const rows = [];
  for (const [k, v] of Object.entries(meta)) {
    const vals = (Array.isArray(v) ? v : [v]).filter((x) => x !== '');
    if (!vals.length) continue;
    rows.push(h('div.mb-2',
      h('div.small.text-body-secondary.text-uppercase.fw-semibold.meta-key', k.replace(/_/g, ' ')),
      h('div.d-flex.flex-wrap.gap-1', vals.slice(0, 30).map((x) => h('span.badge.bg-body-secondary.text-body.border.text-wrap.text-start', String(x).slice(0, 120))))));
  }
  return rows;
}

function likeButton(model) {
  // The visible count is part of the button's name (WCAG 2.5.3), the
  // action is spoken after it; aria-pressed says whether it is liked.
  const count = h('span', formatCount(model.likes));
  const btn = h(`button.btn.btn-sm${model.liked ? '.btn-danger' : '.btn-outline-danger'}`, {
    type: 'button', id: 'like-btn', 'aria-pressed': model.liked ? 'true' : 'false',
    title: model.liked ? 'Unlike this model' : 'Like this model',
  }, h('span', { 'aria-hidden': 'true' }, '\u2665 '), count, h('span.visually-hidden', ` ${Number(model.likes) === 1 ? 'like' : 'likes'}: ${model.liked ? 'unlike' : 'like'} this model`));
  btn.addEventListener('click', async () => {
    if (!session.signedIn()) {
      location.hash = `#/login?next=${encodeURIComponent(location.hash)}`;
      return;
    }
    try {
      const r = await busy(btn, () => api(model.liked ? 'DELETE' : 'PUT', seg`/models/${model.owner}/${model.slug}/like`));
      model.liked = r.liked;
      model.likes = r.likes;
      btn.replaceWith(likeButton(model));
      document.getElementById('like-btn').focus();
    } catch (err) {
      toast(err.message, 'danger');
    }
  });
  return btn;
}

function versionsView(model, versions) {
  if (!versions.length) {
    return emptyState('No versions yet', model.viewerOwns
      ? 'Create and publish a version so people can use this model.'
      : 'The owner has not published a version of this model yet.',
    model.viewerOwns ? h('a.btn.btn-primary', { href: `#/m/${encodeURIComponent(model.owner)}/${encodeURIComponent(model.slug)}/edit` }, 'Add a version') : null);
  }
  return h('div.accordion', { id: 'versions' }, versions.map((v, i) => {
    const bodyId = `ver-${v.id}`;
    const open = i === 0;
    const body = h(`div.accordion-collapse.collapse${open ? '.show' : ''}`, { id: bodyId },
      h('div.accordion-body',
        v.changelog ? h('p.changelog', v.changelog) : h('p.text-body-secondary.small', 'No changelog.'),
        v.files && v.files.length ? h('div.table-responsive', h('table.table.table-sm.align-middle.mb-0',
          h('caption.visually-hidden', `Files of version ${v.version}`),
          h('thead', h('tr', h('th', { scope: 'col' }, 'File'), h('th.text-end', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Content ID'), h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')))),
          h('tbody', v.files.map((f) => h('tr',
            h('td.text-break', h('code', f.name)),
            h('td.text-end.text-nowrap', { title: `${f.size} bytes` }, formatBytes(f.size)),
            h('td.text-break.small', f.cid ? h('code', f.cid) : h('span.text-body-secondary', 'not stored yet')),
            h('td.text-end', fileAction(model, v, f)))))))
          : h('p.small.text-body-secondary.mb-0', 'No files listed.')));
    const btn = h(`button.accordion-button${open ? '' : '.collapsed'}`, { type: 'button', 'aria-expanded': String(open), 'aria-controls': bodyId },
      h('span.fw-semibold.me-2', `v${v.version}`),
      v.state === 'draft' ? h('span.badge.text-bg-warning.me-2', 'Draft') : null,
      h('span.small.text-body-secondary', v.published_at ? `published ${formatDate(v.published_at)}` : `created ${formatDate(v.created_at)}`),
      h('span.small.text-body-secondary.ms-auto.me-2', `${(v.files || []).length} file${(v.files || []).length === 1 ? '' : 's'}`));
    btn.addEventListener('click', () => {
      const nowOpen = !body.classList.contains('show');
      body.classList.toggle('show', nowOpen);
      btn.classList.toggle('collapsed', !nowOpen);
      btn.setAttribute('aria-expanded', String(nowOpen));
    });
    return h('div.accordion-item', h('h3.accordion-header', btn), body);
  }));
}

function reviewItem(r) {
  return h('li.list-group-item.py-3.review',
    h('div.d-flex.flex-wrap.align-items-center.gap-2.mb-1',
      stars(r.rating),
      h('a.fw-semibold', { href: userHref(r.user) }, r.user),
      r.verified ? h('span.badge.text-bg-success', 'Verified licence') : h('span.badge.bg-body-secondary.text-body.border', 'Unverified'),
      h('span.small.text-body-secondary.ms-auto', { title: formatDate(r.created_at) }, timeAgo(r.updated_at || r.created_at))),
    r.body ? h('p.mb-0.review-body', r.body) : null);
}

function starPicker(name, value) {
  const opts = [];
  for (let i = 5; i >= 1; i -= 1) {
    const id = `${name}-${i}`;
    opts.push(h('input.visually-hidden.star-input', { type: 'radio', name, id, value: String(i), checked: value === i, required: true }),
      h('label.star-label', { for: id, title: `${i} star${i === 1 ? '' : 's'}` }, h('span', { 'aria-hidden': 'true' }, '\u2605'), h('span.visually-hidden', `${i} star${i === 1 ? '' : 's'}`)));
  }
  return h('fieldset.mb-3', h('legend.form-label.fs-6', 'Your rating', h('span.text-danger', { 'aria-hidden': 'true' }, ' *')),
    h('div.star-picker', opts), h('div.invalid-feedback'));
}

function reviewsView(model, reviews, reload) {
  const list = reviews.length ? h('ul.list-group.list-group-flush', { id: 'review-list' }, reviews.map(reviewItem))
    : emptyState('No reviews yet', 'Be the first to say how this model worked for you.');
  let form = null;
  const viewer = session.user;
  if (!viewer) {
    form = h('p.mt-3', h('a', { href: `#/login?next=${encodeURIComponent(location.hash)}` }, 'Log in'), ' to review this model.');
  } else if (viewer.username === model.owner) {
    form = h('p.mt-3.small.text-body-secondary', 'Owners cannot review their own models.');
  } else {
    const mine = reviews.find((r) => r.user === viewer.username);
    form = h('form.mt-4.review-form', { id: 'review-form', novalidate: true, 'aria-labelledby': 'review-form-h' },
      h('h3.h6', { id: 'review-form-h' }, mine ? 'Update your review' : 'Write a review'),
      model.licence ? h('p.small.text-success.mb-2', { id: 'review-verified-note' }, '\u2713 You hold a licence: your review is marked \u201cVerified licence\u201d.') : null,
      formAlert(),
      starPicker('rating', mine ? mine.rating : 0),
      field({ label: 'Review', name: 'body', textarea: true, value: mine ? mine.body : '', attrs: { rows: 4, maxlength: 5000 },
        help: 'What did you use it for, and how well did it do? Plain text, up to 5000 characters.' }),
      h('button.btn.btn-primary', { type: 'submit' }, mine ? 'Update review' : 'Post review'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const checked = form.querySelector('input[name="rating"]:checked');
      if (!checked) {
        form.querySelector('.star-picker').nextElementSibling.textContent = 'Choose a rating from 1 to 5 stars.';
        form.querySelector('.star-picker').nextElementSibling.classList.add('d-block');
        form.querySelector('input[name="rating"]').focus();
        return;
      }
      form.querySelector('.star-picker').nextElementSibling.classList.remove('d-block');
      try {
        await busy(form.querySelector('button[type="submit"]'), () => api('POST', seg`/models/${model.owner}/${model.slug}/reviews`,
          { body: { rating: Number(checked.value), body: form.elements.body.value } }));
        toast('Thanks, your review is posted.');
        reload();
      } catch (err) {
        showErrors(form, err);
      }
    });
  }
  return h('div', list, form);
}

export async function modelPage({ main, params, signal }) {
  const { owner, slug } = params;
  mount(main, spinner('Loading the model\u2026'));
  let model;
  try {
    model = await api('GET', seg`/models/${owner}/${slug}`, { signal });
  } catch (err) {
    if (err.status === 404) {
      setTitle('Model not found');
      mount(main, pageState('Model not found', `There is no model ${owner}/${slug} here, or it is not public.`,
        h('a.btn.btn-primary', { href: '#/explore' }, 'Explore models')));
      return;
    }
    throw err;
  }
  model.viewerOwns = Boolean(session.user && session.user.username === model.owner);
  await loadAccess(model, signal);
  if (signal.aborted) return;
  model.onLicensed = () => {
    toast('Licence recorded: the files are unlocked.');
    modelPage({ main, params, signal });
  };
  setTitle(model.title || `${owner}/${slug}`);
  const { meta, body } = splitFrontMatter(model.card);

  const versionsBox = h('div', spinner('Loading versions\u2026'));
  const reviewsBox = h('div', spinner('Loading reviews\u2026'));
  const ratingBox = h('span');
  const renderRating = () => mount(ratingBox, stars(model.rating, model.rating_count),
    h('span.small.text-body-secondary.ms-1', model.rating_count ? `${Number(model.rating).toFixed(1)} (${model.rating_count})` : 'no ratings'));
  renderRating();

  const cardBody = body.trim() ? h('div.markdown-body', { id: 'model-card' }, renderMarkdown(body))
    : emptyState('No model card', model.viewerOwns ? 'Describe what the model does, how it was trained and its limits.' : 'The owner has not written a card for this model.');

  mount(main,
    h('nav', { 'aria-label': 'Breadcrumb' }, h('ol.breadcrumb.small',
      h('li.breadcrumb-item', h('a', { href: '#/explore' }, 'Models')),
      h('li.breadcrumb-item', h('a', { href: userHref(model.owner) }, model.owner)),
      h('li.breadcrumb-item.active', { 'aria-current': 'page' }, model.slug))),
    h('header.mb-4',
      h('div.d-flex.flex-wrap.align-items-start.gap-3',
        h('div.flex-grow-1.min-w-0',
          h('h1.h2.mb-1.text-break', model.title || model.slug),
          h('p.text-body-secondary.mb-2', 'by ', h('a', { href: userHref(model.owner) }, model.owner),
            model.latest_version ? ` \u00b7 latest v${model.latest_version}` : '', ` \u00b7 updated ${timeAgo(model.updated_at)}`)),
        h('div.d-flex.gap-2.align-items-center', likeButton(model),
          model.viewerOwns ? h('a.btn.btn-sm.btn-outline-primary', { href: `#/m/${encodeURIComponent(owner)}/${encodeURIComponent(slug)}/edit` }, 'Edit') : null)),
      model.summary ? h('p.lead.mb-2', model.summary) : null,
      h('div.d-flex.flex-wrap.gap-2.align-items-center',
        taskBadge(model.task), model.library ? h('span.badge.rounded-pill.bg-body-secondary.text-body.border', model.library) : null,
        model.license ? h('span.badge.rounded-pill.bg-body-secondary.text-body.border', `License: ${model.license}`) : null,
        priceBadge(model.price),
        model.visibility !== 'public' ? h('span.badge.text-bg-warning', model.visibility) : null,
        ratingBox,
        h('span.small.text-body-secondary', `\u2913 ${formatCount(model.downloads)} downloads`))),
    h('div.row.g-4',
      h('div.col-lg-8',
        h('div.card.mb-4.shadow-sm.d-lg-none', h('div.card-body', buyBox(model, session.user, '-sm'))),
        h('section.mb-5', { 'aria-labelledby': 'card-h' }, h('h2.visually-hidden', { id: 'card-h' }, 'Model card'),
          h('div.card', h('div.card-body.p-md-4', cardBody))),
        h('section.mb-5', { 'aria-labelledby': 'ver-h' }, h('h2.h4', { id: 'ver-h' }, 'Versions and files'), versionsBox),
        h('section.mb-4', { 'aria-labelledby': 'rev-h', id: 'reviews' }, h('h2.h4', { id: 'rev-h' }, 'Reviews'), reviewsBox)),
      h('aside.col-lg-4', { 'aria-label': 'About this model' },
        h('div.card.mb-3.shadow-sm.d-none.d-lg-block', h('div.card-body', buyBox(model, session.user))),
        h('div.card.mb-3', h('div.card-body',
          h('h2.h6', 'Details'),
          metaBadges({ task: model.task, library: model.library, license: model.license, base_model: model.base_model,
            tags: model.tags, datasets: model.datasets, metrics: model.metrics, language: model.language,
            ...Object.fromEntries(Object.entries(meta).filter(([k]) => !['task', 'pipeline_tag', 'library', 'library_name', 'license', 'base_model', 'tags', 'datasets', 'metrics', 'language'].includes(k))) }))),
        h('div.card', h('div.card-body', h('h2.h6', 'Provenance'), provenance(model))))));

  const loadVersions = async () => {
    try {
      const r = await api('GET', seg`/models/${owner}/${slug}/versions`, { signal });
      mount(versionsBox, versionsView(model, r.versions));
    } catch (err) {
      if (err.name !== 'AbortError') mount(versionsBox, errorAlert(err, loadVersions));
    }
  };
  const loadReviews = async () => {
    try {
      const r = await api('GET', seg`/models/${owner}/${slug}/reviews`, { query: { limit: 100 }, signal });
      mount(reviewsBox, reviewsView(model, r.reviews, async () => {
        try {
          const m = await api('GET', seg`/models/${owner}/${slug}`, { signal });
          Object.assign(model, { rating: m.rating, rating_count: m.rating_count });
          renderRating();
        } catch { /* the rating refreshes on the next visit */ }
        loadReviews();
      }));
    } catch (err) {
      if (err.name !== 'AbortError') mount(reviewsBox, errorAlert(err, loadReviews));
    }
  };
  await Promise.all([loadVersions(), loadReviews()]);
}
