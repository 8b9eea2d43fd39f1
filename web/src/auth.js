// auth.js - helpers for pages that need a signed-in user.

import { h, mount } from './dom.js';
import { session } from './session.js';
import { setTitle } from './components.js';

// Shows a sign-in prompt and returns false when nobody is signed in.
export function requireUser(main, what) {
  if (session.user) return true;
  setTitle('Log in');
  const next = encodeURIComponent(location.hash || '#/');
  mount(main, h('div.text-center.py-5.mx-auto.narrow',
    h('h1.h3', 'Log in to continue'),
    h('p.text-body-secondary', `You need an account to ${what}.`),
    h('div.d-flex.justify-content-center.gap-2',
      h('a.btn.btn-primary', { href: `#/login?next=${next}` }, 'Log in'),
      h('a.btn.btn-outline-primary', { href: `#/register?next=${next}` }, 'Create an account'))));
  return false;
}

// A safe place to go after signing in: only hash routes of this page.
export function nextHash(query) {
  const n = query.get('next') || '';
  return /^#\/[^\s]*$/.test(n) && !/^#\/(login|register)/.test(n) ? n : '#/account';
}
