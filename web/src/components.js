// components.js - the pieces pages are made of: model tiles, stars, states
// (loading, empty, error) and forms that show the API's error
// next to the field it names.

import { h } from './dom.js';
import { formatCount, formatPrice, isFree, timeAgo } from './format.js';
import { ApiError } from './api.js';

export function setTitle(text) {
  document.title = text ? `${text} \u00b7 Agora` : 'Agora: a marketplace for AI models';
}

export function modelHref(m) {
  return `#/m/${encodeURIComponent(m.owner)}/${encodeURIComponent(m.slug)}`;
}

export function userHref(name) {
  return `#/u/${encodeURIComponent(name)}`;
}

// Five stars, with the value read out to screen readers.
export function stars(rating, count) {
  const r = Math.max(0, Math.min(5, Number(rating) || 0));
  const full = Math.round(r);
  const label = count === 0 ? 'No ratings yet' : `Rated ${r.toFixed(1)} out of 5${count !== undefined ? ` from ${count} review${count === 1 ? '' : 's'}` : ''}`;
  return h('span.stars', { role: 'img', 'aria-label': label, title: label },
    h('span.stars-on', { 'aria-hidden': 'true' }, '\u2605'.repeat(full)),
    h('span.stars-off', { 'aria-hidden': 'true' }, '\u2605'.repeat(5 - full)));
}

export function priceBadge(price) {
  return isFree(price)
    ? h('span.badge.text-bg-success', 'Free')
    : h('span.badge.text-bg-warning', formatPrice(price));
}

export function taskBadge(task) {
  return task ? h('span.badge.rounded-pill.text-bg-secondary.badge-task', task) : null;
}

// A listing as a tile in a grid.
export function modelTile(m) {
  return h('div.col',
    h('article.card.h-100.model-tile.shadow-sm',
      h('div.card-body.d-flex.flex-column',
        h('div.d-flex.justify-content-between.align-items-start.gap-2.mb-1',
          h('h3.h6.card-title.mb-0.text-break',
            h('a.stretched-link.link-body-emphasis.text-decoration-none', { href: modelHref(m) }, m.title || m.slug)),
          priceBadge(m.price)),
        h('p.small.text-body-secondary.mb-2.text-break', `${m.owner}/${m.slug}`),
        h('p.card-text.small.flex-grow-1.clamp-3', m.summary || ''),
        h('div.d-flex.flex-wrap.gap-1.mb-2',
          m.visibility && m.visibility !== 'public' ? h('span.badge.text-bg-warning', { title: 'Only you see this listing here' }, m.visibility) : null,
          taskBadge(m.task),
          m.library ? h('span.badge.rounded-pill.bg-body-secondary.text-body.border', m.library) : null,
          m.license ? h('span.badge.rounded-pill.bg-body-secondary.text-body.border', m.license) : null),
        h('div.d-flex.flex-wrap.gap-3.small.text-body-secondary.align-items-center',
          stars(m.rating, m.rating_count),
          h('span', { title: 'Likes' }, h('span', { 'aria-hidden': 'true' }, '\u2665 '), h('span.visually-hidden', 'Likes: '), formatCount(m.likes)),
          h('span', { title: 'Downloads' }, h('span', { 'aria-hidden': 'true' }, '\u2913 '), h('span.visually-hidden', 'Downloads: '), formatCount(m.downloads)),
          m.updated_at ? h('span.ms-auto', { title: 'Updated' }, timeAgo(m.updated_at)) : null))));
}

export function modelGrid(items) {
  return h('div.row.row-cols-1.row-cols-sm-2.row-cols-lg-3.g-3', items.map(modelTile));
}

export function spinner(label = 'Loading\u2026') {
  return h('div.d-flex.align-items-center.gap-2.text-body-secondary.py-4.loading', { role: 'status' },
    h('div.spinner-border.spinner-border-sm', { 'aria-hidden': 'true' }), h('span', label));
}

// Placeholder tiles shown while a grid loads.
export function skeletonGrid(n = 3) {
  const tiles = [];
  for (let i = 0; i < n; i += 1) {
    tiles.push(h('div.col', h('div.card.h-100', { 'aria-hidden': 'true' },
      h('div.card-body.placeholder-glow',
        h('span.placeholder.col-7.mb-2'), h('span.placeholder.col-4.mb-3.d-block'),
        h('span.placeholder.col-12'), h('span.placeholder.col-10'), h('span.placeholder.col-6')))));
  }
  return h('div', h('div.visually-hidden', { role: 'status' }, 'Loading\u2026'),
    h('div.row.row-cols-1.row-cols-sm-2.row-cols-lg-3.g-3', tiles));
}

export function errorAlert(err, retry) {
  const msg = err instanceof ApiError || (err && err.message) ? err.message : String(err);
  return h('div.alert.alert-danger.d-flex.flex-wrap.align-items-center.gap-2', { role: 'alert' },
    h('span.flex-grow-1', msg),
    retry ? h('button.btn.btn-sm.btn-outline-danger', { type: 'button', onclick: retry }, 'Try again') : null);
}

export function emptyState(title, text, action) {
  return h('div.text-center.py-5.px-3.empty-state.border.rounded-3',
    h('p.h5', title), text ? h('p.text-body-secondary.mb-3', text) : null, action || null);
}

// A whole page's empty state (not found, not allowed): the page's <h1>.
export function pageState(title, text, action) {
  return h('div.text-center.py-5.px-3',
    h('h1.h3', title), text ? h('p.text-body-secondary.mb-3', text) : null, action || null);
}

// A labelled form control with room for the API's message about it.
// `name` is the API field name: showErrors() finds the control by it.
export function field({ label, name, type = 'text', value = '', help, required, attrs = {}, textarea, options }) {
  const id = `fld-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const helpId = help ? `${id}-help` : null;
  const fbId = `${id}-fb`;
  const describedby = [helpId, fbId].filter(Boolean).join(' ');
  let control;
  if (textarea) {
    control = h('textarea.form-control', { id, name, required, 'aria-describedby': describedby, ...attrs });
    control.value = value;
  } else if (options) {
    control = h('select.form-select', { id, name, required, 'aria-describedby': describedby, ...attrs },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  } else {
    control = h('input.form-control', { id, name, type, value, required, 'aria-describedby': describedby, ...attrs });
  }
  return h('div.mb-3',
    h('label.form-label', { for: id }, label, required ? h('span.text-danger', { 'aria-hidden': 'true' }, ' *') : null),
    control,
    help ? h('div.form-text', { id: helpId }, help) : null,
    h('div.invalid-feedback', { id: fbId }));
}

export function formAlert() {
  return h('div.form-alert', { 'aria-live': 'polite' });
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('.is-invalid')) {
    el.classList.remove('is-invalid');
    el.removeAttribute('aria-invalid');
  }
  for (const el of form.querySelectorAll('.invalid-feedback')) {
    el.textContent = '';
    el.classList.remove('d-block');
  }
  const alert = form.querySelector('.form-alert');
  if (alert) alert.replaceChildren();
}

// Puts the API's message beside the control named by err.field, or in the
// form's alert area when no control matches; focuses the control at fault.
export function showErrors(form, err) {
  clearErrors(form);
  const name = err && err.field ? String(err.field).replace(/\[.*$/, '').split('.')[0] : null;
  const control = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  if (control) {
    control.classList.add('is-invalid');
    control.setAttribute('aria-invalid', 'true');
    const group = control.closest('fieldset, .mb-3') || control.parentElement;
    const fb = group.querySelector('.invalid-feedback');
    if (fb) {
      fb.textContent = err.message;
      fb.classList.add('d-block');
    }
    control.focus();
    return;
  }
  const alert = form.querySelector('.form-alert');
  const box = h('div.alert.alert-danger', { role: 'alert' }, err.message || String(err));
  if (alert) alert.replaceChildren(box);
  else form.prepend(box);
}

// Disables a submit button and shows a spinner in it while `fn` runs.
export async function busy(button, fn) {
  const old = [...button.childNodes];
  button.disabled = true;
  button.replaceChildren(h('span.spinner-border.spinner-border-sm.me-2', { 'aria-hidden': 'true' }), ...old.map((n) => n.cloneNode(true)));
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.replaceChildren(...old);
  }
}

let toastBox = null;
export function toast(text, kind = 'success') {
  if (!toastBox) {
    toastBox = h('div.toast-container.position-fixed.bottom-0.end-0.p-3', { 'aria-live': 'polite', 'aria-atomic': 'true' });
    document.body.append(toastBox);
  }
  const t = h(`div.toast.show.align-items-center.text-bg-${kind}.border-0`, { role: 'status' },
    h('div.d-flex', h('div.toast-body', text),
      h('button.btn-close.btn-close-white.me-2.m-auto', { type: 'button', 'aria-label': 'Close', onclick: () => t.remove() })));
  toastBox.append(t);
  setTimeout(() => t.remove(), 5000);
}
