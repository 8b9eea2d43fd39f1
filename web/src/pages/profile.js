// profile.js - a user's public profile (reputation, models, reviews of
// their models, reviews they wrote) and the form to edit your own.

import { api, seg } from '../api.js';
import { h, mount } from '../dom.js';
import { session } from '../session.js';
import {
  pageState,
  busy, clearErrors, emptyState, errorAlert, field, formAlert, modelGrid, modelHref, setTitle, showErrors, spinner, stars,
  toast, userHref,
} from '../components.js';
import { formatCount, formatDate, timeAgo } from '../format.js';
import { requireUser } from '../auth.js';
import { go } from '../main.js';

function stat(label, value, id) {
  return h('div.col-6.col-md', h('div.stat.border.rounded-3.p-3.h-100', { id },
    h('div.h4.mb-0', value), h('div.small.text-body-secondary', label)));
}

function reviewLine(r, showModel) {
  const [owner, slug] = String(r.model || '').split('/');
  return h('li.list-group-item.py-3.review',
    h('div.d-flex.flex-wrap.align-items-center.gap-2.mb-1',
      stars(r.rating),
      showModel && owner && slug ? h('a.fw-semibold', { href: modelHref({ owner, slug }) }, r.model) : null,
      r.user ? h('span.small', 'by ', h('a', { href: userHref(r.user) }, r.user)) : null,
      h('span.small.text-body-secondary.ms-auto', { title: formatDate(r.created_at) }, timeAgo(r.updated_at || r.created_at))),
    r.body ? h('p.mb-0.review-body', r.body) : null);
}

function safeLink(url) {
  return /^https?:\/\//i.test(url) ? h('a', { href: url, rel: 'noopener noreferrer nofollow me', target: '_blank' }, url.replace(/^https?:\/\//i, '')) : h('span', url);
}

export async function profilePage({ main, params, signal }) {
  const name = params.username;
  mount(main, spinner('Loading the profile\u2026'));
  let p;
  try {
    p = await api('GET', seg`/users/${name}`, { signal });
  } catch (err) {
    if (err.status === 404) {
      setTitle('User not found');
      mount(main, pageState('User not found', `Nobody called ${name} has an account here.`));
      return;
    }
    throw err;
  }
  setTitle(p.display_name || p.username);
  const rep = p.reputation || {};
  const mine = session.user && session.user.username === p.username;
  const modelsBox = h('div', spinner('Loading models\u2026'));
  const receivedBox = h('div', spinner('Loading reviews\u2026'));
  const writtenBox = h('div', spinner('Loading reviews\u2026'));

  mount(main,
    h('header.d-flex.flex-wrap.gap-3.align-items-start.mb-4',
      h('div.avatar.rounded-circle.d-flex.align-items-center.justify-content-center.fw-semibold', { 'aria-hidden': 'true' },
        (p.display_name || p.username).slice(0, 1).toUpperCase()),
      h('div.flex-grow-1.min-w-0',
        h('h1.h3.mb-0.text-break', p.display_name || p.username),
        h('p.text-body-secondary.mb-2', `@${p.username}`, p.role === 'admin' ? ' \u00b7 admin' : '', ` \u00b7 joined ${formatDate(p.created_at)}`),
        p.bio ? h('p.mb-2.profile-bio', p.bio) : null,
        p.links && p.links.length ? h('ul.list-inline.mb-0.small', p.links.map((l) => h('li.list-inline-item', safeLink(l)))) : null),
      mine ? h('a.btn.btn-outline-primary', { href: '#/settings/profile' }, 'Edit profile') : null),
    h('section.mb-5', { 'aria-labelledby': 'rep-h' },
      h('h2.h5', { id: 'rep-h' }, 'Reputation'),
      h('div.row.g-3',
        stat('Reputation score (0\u2013100)', Number(rep.score || 0).toFixed(1), 'rep-score'),
        stat('Models', formatCount(rep.models), 'rep-models'),
        stat('Downloads', formatCount(rep.downloads), 'rep-downloads'),
        stat('Likes', formatCount(rep.likes), 'rep-likes'),
        stat('Average rating', rep.rating_count ? [Number(rep.rating).toFixed(1), ' ', stars(rep.rating, rep.rating_count)] : '\u2013', 'rep-rating'))),
    h('section.mb-5', { 'aria-labelledby': 'models-h' }, h('h2.h5', { id: 'models-h' }, 'Models'), modelsBox),
    h('div.row.g-4',
      h('section.col-lg-6', { 'aria-labelledby': 'recv-h' }, h('h2.h5', { id: 'recv-h' }, 'Reviews of their models'), receivedBox),
      h('section.col-lg-6', { 'aria-labelledby': 'wrote-h' }, h('h2.h5', { id: 'wrote-h' }, 'Reviews they wrote'), writtenBox)));

  const loadModels = async () => {
    try {
      const r = await api('GET', '/models', { query: { owner: p.username, sort: 'likes', limit: 24 }, signal });
      mount(modelsBox, r.items.length ? modelGrid(r.items) : emptyState('No public models yet',
        mine ? 'Publish your first model and it will appear here.' : null,
        mine ? h('a.btn.btn-primary', { href: '#/publish' }, 'Publish a model') : null));
      // Reviews of their models: the latest few of each reviewed model.
      const reviewed = r.items.filter((m) => m.rating_count > 0).slice(0, 10);
      const lists = await Promise.all(reviewed.map((m) => api('GET', seg`/models/${m.owner}/${m.slug}/reviews`, { query: { limit: 5 }, signal })
        .then((x) => x.reviews.map((rv) => ({ ...rv, model: `${m.owner}/${m.slug}` })))));
      const all = lists.flat().sort((a, b) => (b.updated_at || b.created_at) - (a.updated_at || a.created_at)).slice(0, 10);
      mount(receivedBox, all.length ? h('ul.list-group.list-group-flush', { id: 'received-reviews' }, all.map((x) => reviewLine(x, true)))
        : emptyState('No reviews yet', 'Reviews of this user\u2019s models will show here.'));
    } catch (err) {
      if (err.name === 'AbortError') return;
      mount(modelsBox, errorAlert(err, loadModels));
      mount(receivedBox);
    }
  };
  const loadWritten = async () => {
    try {
      const r = await api('GET', seg`/users/${p.username}/reviews`, { signal });
      mount(writtenBox, r.reviews.length ? h('ul.list-group.list-group-flush', r.reviews.slice(0, 20).map((x) => reviewLine(x, true)))
        : emptyState('No reviews written', null));
    } catch (err) {
      if (err.name !== 'AbortError') mount(writtenBox, errorAlert(err, loadWritten));
    }
  };
  await Promise.all([loadModels(), loadWritten()]);
}

export async function editProfilePage({ main, signal }) {
  setTitle('Edit profile');
  if (!requireUser(main, 'edit your profile')) return;
  mount(main, spinner());
  const p = await api('GET', seg`/users/${session.user.username}`, { signal });
  const form = h('form', { id: 'profile-form', novalidate: true },
    formAlert(),
    field({ label: 'Display name', name: 'display_name', value: p.display_name || '', attrs: { maxlength: 100, autocomplete: 'name' } }),
    field({ label: 'Bio', name: 'bio', textarea: true, value: p.bio || '', help: 'A few sentences about you and your models. Up to 2000 characters.', attrs: { rows: 5, maxlength: 2000 } }),
    field({ label: 'Links', name: 'links', textarea: true, value: (p.links || []).join('\n'), help: 'One web address per line, up to 8.', attrs: { rows: 3 } }),
    h('div.d-flex.gap-2',
      h('button.btn.btn-primary', { type: 'submit' }, 'Save profile'),
      h('a.btn.btn-outline-secondary', { href: userHref(p.username) }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const links = form.elements.links.value.split('\n').map((s) => s.trim()).filter(Boolean);
    try {
      const r = await busy(form.querySelector('button[type="submit"]'), () => api('PATCH', seg`/users/${p.username}`, {
        body: { display_name: form.elements.display_name.value.trim(), bio: form.elements.bio.value, links },
      }));
      session.set({ ...session.user, display_name: r.display_name, bio: r.bio, links: r.links });
      toast('Profile saved.');
      go(userHref(p.username));
    } catch (err) {
      showErrors(form, err);
    }
  });
  mount(main, h('div.mx-auto.narrow-lg',
    h('h1.h3.mb-3', 'Edit profile'),
    h('div.card', h('div.card-body.p-4', form))));
}
