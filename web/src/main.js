// main.js - boots the single-page UI: theme, session, navigation bar and the
// hash router (#/path?query), which the node can serve from one index.html.

import { api } from './api.js';
import { session } from './session.js';
import { h, mount } from './dom.js';
import { initTheme } from './theme.js';
import { errorAlert, setTitle, userHref } from './components.js';
import { routes } from './routes.js';
import { restoreArbiterNav } from './chaininfo.js';
import { watchHealth } from './health.js';

const main = document.getElementById('main');
let current = null; // AbortController of the page on screen
let booted = false; // false until the first page has rendered

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return { path: path || '/', query };
}

function match(path) {
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  for (const r of routes) {
    const pat = r.path.split('/').filter(Boolean);
    if (pat.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < pat.length && ok; i += 1) {
      if (pat[i].startsWith(':')) params[pat[i].slice(1)] = parts[i];
      else ok = pat[i] === parts[i];
    }
    if (ok) return { route: r, params };
  }
  return null;
}

async function render() {
  if (current) current.abort();
  current = new AbortController();
  const { signal } = current;
  const { path, query } = parseHash();
  const m = match(path);
  for (const a of document.querySelectorAll('[data-nav]')) {
    const on = m && m.route.nav === a.dataset.nav;
    a.classList.toggle('active', Boolean(on));
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  collapseNav();
  if (booted) {
    // A new page: start at its top, and let screen readers start there too.
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }
  if (!m) {
    setTitle('Not found');
    mount(main, h('div.py-5.text-center', h('h1.h3', 'Page not found'),
      h('p.text-body-secondary', 'There is nothing at this address.'),
      h('a.btn.btn-primary', { href: '#/' }, 'Go home')));
    return;
  }
  try {
    await m.route.page({ main, params: m.params, query, signal });
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    mount(main, errorAlert(err, () => render()));
  }
}

// Navigates to a hash route; with replace, without a history entry.
export function go(hash, { replace = false } = {}) {
  if (location.hash === hash) {
    render();
    return;
  }
  if (replace) {
    history.replaceState(null, '', hash);
    render();
  } else {
    location.hash = hash;
  }
}

function renderUser() {
  const box = document.getElementById('nav-user');
  if (!box) return;
  if (session.user) {
    const u = session.user;
    mount(box,
      h('a.btn.btn-link.nav-link.px-2', { href: userHref(u.username), 'data-nav': 'me' }, u.display_name || u.username),
      h('a.btn.btn-outline-primary.btn-sm', { href: '#/account' }, 'Account'),
      h('button.btn.btn-outline-secondary.btn-sm', { type: 'button', id: 'logout', onclick: logout }, 'Log out'));
  } else {
    mount(box,
      h('a.btn.btn-outline-primary.btn-sm', { href: '#/login' }, 'Log in'),
      h('a.btn.btn-primary.btn-sm', { href: '#/register' }, 'Sign up'));
  }
}

async function logout() {
  try {
    await api('POST', '/auth/logout');
  } catch {
    /* the session is gone either way */
  }
  session.clear();
  go('#/');
}

function collapseNav() {
  const menu = document.getElementById('nav-main');
  const btn = document.getElementById('nav-toggle');
  if (menu && btn) {
    menu.classList.remove('show');
    btn.setAttribute('aria-expanded', 'false');
  }
}

function initNav() {
  // The skip link moves focus to the content without touching the hash,
  // which belongs to the router.
  const skip = document.querySelector('.skip-link');
  if (skip) {
    skip.addEventListener('click', (ev) => {
      ev.preventDefault();
      main.focus();
    });
  }
  const btn = document.getElementById('nav-toggle');
  const menu = document.getElementById('nav-main');
  btn.addEventListener('click', () => {
    const open = !menu.classList.contains('show');
    menu.classList.toggle('show', open);
    btn.setAttribute('aria-expanded', String(open));
  });
  document.getElementById('nav-search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = document.getElementById('nav-q').value.trim();
    go(`#/explore${q ? `?q=${encodeURIComponent(q)}` : ''}`);
  });
}

async function boot() {
  initTheme();
  initNav();
  restoreArbiterNav();
  watchHealth(document.getElementById('node-health'));
  session.onChange(renderUser);
  if (session.hinted()) {
    try {
      const me = await api('GET', '/auth/me');
      session.set(me.user, me.csrf_token);
    } catch {
      session.clear();
    }
  }
  session.ready = true;
  renderUser();
  window.addEventListener('hashchange', render);
  await render();
  booted = true;
  document.documentElement.dataset.ready = '1';
}

boot();
