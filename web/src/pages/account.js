// account.js - register, log in (cookie session with a CSRF token) and the
// account page: profile summary and API tokens (create: shown once; list;
// revoke).

import { api, seg } from '../api.js';
import { h, mount } from '../dom.js';
import { session } from '../session.js';
import {
  busy, clearErrors, emptyState, errorAlert, field, formAlert, setTitle, showErrors, spinner, toast, userHref,
} from '../components.js';
import { formatDate, timeAgo } from '../format.js';
import { nextHash, requireUser } from '../auth.js';
import { go } from '../main.js';
import { chainInfo, chainReady, hasInjected, isDevChain, linkedAddresses } from '../chaininfo.js';

function authCard(title, sub, form, foot) {
  return h('div.mx-auto.narrow.py-3',
    h('div.card.shadow-sm', h('div.card-body.p-4',
      h('h1.h3.mb-1', title), h('p.text-body-secondary', sub), form)),
    h('p.text-center.mt-3.small', foot));
}

// Sign-In with Ethereum: connect (browser wallet, or the burner on a dev
// chain), sign a message, get a session. Hidden when the node has no chain.
function walletSignIn(query) {
  const box = h('div.wallet-signin');
  (async () => {
    let info;
    try {
      info = await chainInfo();
    } catch {
      return;
    }
    if (!chainReady(info) || (!hasInjected() && !isDevChain(info))) return;
    const out = h('div', { 'aria-live': 'polite' });
    const signIn = async (btn, connect) => {
      let chain = null;
      try {
        const r = await busy(btn, async () => {
          chain = await import('../chain.js'); // ethers, loaded on demand
          await connect(chain);
          return chain.siweSignIn(info);
        });
        session.set(r.user, r.csrf_token);
        toast(`Signed in as ${r.user.username}.`);
        go(nextHash(query));
      } catch (err) {
        mount(out, h('div.alert.alert-danger.small.mt-2.mb-0', { role: 'alert' }, err.status || !chain ? err.message : chain.explainError(err)));
      }
    };
    const buttons = [];
    if (hasInjected()) {
      const b = h('button.btn.btn-outline-primary.w-100.mb-2', { type: 'button' }, 'Sign in with your browser wallet');
      b.addEventListener('click', () => signIn(b, (chain) => chain.connectInjected(info)));
      buttons.push(b);
    }
    if (isDevChain(info)) {
      const b = h('button.btn.btn-outline-warning.w-100', { type: 'button', id: 'siwe-burner' }, 'Sign in with the burner wallet (development chain)');
      b.addEventListener('click', () => signIn(b, async (chain) => chain.connectBurner(info)));
      buttons.push(b);
    }
    mount(box, h('div.text-center.small.text-body-secondary.my-3', 'or'), buttons, out);
  })();
  return box;
}

export async function loginPage({ main, query }) {
  setTitle('Log in');
  if (session.user) {
    go(nextHash(query), { replace: true });
    return;
  }
  const form = h('form', { id: 'login-form', novalidate: true },
    formAlert(),
    field({ label: 'Username or email', name: 'login', required: true, attrs: { autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' } }),
    field({ label: 'Password', name: 'password', type: 'password', required: true, attrs: { autocomplete: 'current-password' } }),
    h('button.btn.btn-primary.w-100', { type: 'submit' }, 'Log in'),
    h('div.mt-3', walletSignIn(query)));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const r = await busy(form.querySelector('button[type="submit"]'), () => api('POST', '/auth/login',
        { body: { login: form.elements.login.value.trim(), password: form.elements.password.value } }));
      session.set(r.user, r.csrf_token);
      toast(`Welcome back, ${r.user.display_name || r.user.username}.`);
      go(nextHash(query));
    } catch (err) {
      if (err.status === 401 && !err.field) err.field = 'password';
      showErrors(form, err);
    }
  });
  mount(main, authCard('Log in', 'Welcome back to Agora.', form,
    ['New here? ', h('a', { href: `#/register${query.get('next') ? `?next=${encodeURIComponent(query.get('next'))}` : ''}` }, 'Create an account')]));
  form.elements.login.focus();
}

export async function registerPage({ main, query }) {
  setTitle('Create an account');
  if (session.user) {
    go('#/account', { replace: true });
    return;
  }
  const form = h('form', { id: 'register-form', novalidate: true },
    formAlert(),
    field({ label: 'Username', name: 'username', required: true, help: '3 to 32 characters: lowercase letters, digits, _ and -.',
      attrs: { autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', maxlength: 32 } }),
    field({ label: 'Email', name: 'email', type: 'email', required: true, attrs: { autocomplete: 'email', maxlength: 254 } }),
    field({ label: 'Password', name: 'password', type: 'password', required: true, help: 'At least 10 characters.',
      attrs: { autocomplete: 'new-password', minlength: 10 } }),
    h('button.btn.btn-primary.w-100', { type: 'submit' }, 'Create account'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = { username: form.elements.username.value.trim(), email: form.elements.email.value.trim(), password: form.elements.password.value };
    const btn = form.querySelector('button[type="submit"]');
    try {
      await busy(btn, async () => {
        await api('POST', '/auth/register', { body });
        const r = await api('POST', '/auth/login', { body: { login: body.username, password: body.password } });
        session.set(r.user, r.csrf_token);
      });
      toast('Your account is ready.');
      go(nextHash(query));
    } catch (err) {
      showErrors(form, err);
    }
  });
  mount(main, authCard('Create an account', 'Publish models, like and review, and keep your API tokens in one place.', form,
    ['Already have an account? ', h('a', { href: '#/login' }, 'Log in')]));
  form.elements.username.focus();
}

function tokenRow(t, reload) {
  const revoke = h('button.btn.btn-sm.btn-outline-danger', { type: 'button', 'aria-label': `Revoke token ${t.name}` }, 'Revoke');
  revoke.addEventListener('click', async () => {
    if (!window.confirm(`Revoke the token \u201c${t.name}\u201d? Scripts using it will stop working.`)) return;
    try {
      await busy(revoke, () => api('DELETE', seg`/tokens/${t.id}`));
      toast(`Token \u201c${t.name}\u201d revoked.`);
      reload();
    } catch (err) {
      toast(err.message, 'danger');
    }
  });
  return h('tr', { dataset: { tokenId: String(t.id) } },
    h('td.text-break', t.name),
    h('td', h('code', `${t.prefix}\u2026`)),
    h('td.text-nowrap', formatDate(t.created_at)),
    h('td.text-nowrap', t.last_used_at ? timeAgo(t.last_used_at) : 'never'),
    h('td.text-end', revoke));
}

export async function accountPage({ main, signal }) {
  setTitle('Your account');
  if (!requireUser(main, 'manage your account')) return;
  const u = session.user;
  const list = h('div', spinner('Loading tokens\u2026'));
  const shown = h('div', { 'aria-live': 'polite' });
  const form = h('form.row.g-2.align-items-start', { id: 'token-form', novalidate: true },
    h('div.col-sm', field({ label: 'New token name', name: 'name', required: true, help: 'For example "laptop CLI" or "CI". Up to 64 characters.', attrs: { maxlength: 64 } })),
    h('div.col-sm-auto.pt-sm-4', h('button.btn.btn-primary.mt-sm-2', { type: 'submit' }, 'Create token')),
    h('div.col-12', formAlert()));

  const walletsBox = h('div.mb-2', spinner('Loading wallets\u2026'));
  const loadWallets = async () => {
    try {
      const a = await linkedAddresses(signal);
      mount(walletsBox, a.length ? h('ul.list-unstyled.small.mb-0', { id: 'linked-wallets' }, a.map((x) => h('li.text-break', h('code', x))))
        : h('p.small.mb-0', 'No wallet linked yet.'));
    } catch (err) {
      if (err.name !== 'AbortError') mount(walletsBox, errorAlert(err, loadWallets));
    }
  };

  const load = async () => {
    try {
      const r = await api('GET', '/tokens', { signal });
      mount(list, r.tokens.length ? h('div.table-responsive', h('table.table.align-middle', { id: 'token-table' },
        h('caption.visually-hidden', 'Your API tokens'),
        h('thead', h('tr', ['Name', 'Prefix', 'Created', 'Last used'].map((c) => h('th', { scope: 'col' }, c)), h('th', { scope: 'col' }, h('span.visually-hidden', 'Actions')))),
        h('tbody', r.tokens.map((t) => tokenRow(t, load)))))
        : emptyState('No API tokens', 'Create one to use the agora command line or scripts with your account.'));
    } catch (err) {
      if (err.name !== 'AbortError') mount(list, errorAlert(err, load));
    }
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const name = form.elements.name.value.trim();
    if (!name) {
      showErrors(form, { field: 'name', message: 'Give the token a name.' });
      return;
    }
    try {
      const r = await busy(form.querySelector('button[type="submit"]'), () => api('POST', '/tokens', { body: { name } }));
      form.reset();
      const secret = h('input.form-control.font-monospace', { id: 'new-token', readonly: true, value: r.token, 'aria-label': 'Your new token' });
      const copy = h('button.btn.btn-outline-secondary', { type: 'button' }, 'Copy');
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(r.token);
          copy.textContent = 'Copied';
        } catch {
          secret.select();
        }
      });
      mount(shown, h('div.alert.alert-success', { role: 'status' },
        h('p.fw-semibold.mb-2', `Token \u201c${r.name}\u201d created. Copy it now: it will not be shown again.`),
        h('div.input-group', secret, copy),
        h('p.small.mb-0.mt-2', 'Use it as ', h('code', 'Authorization: Bearer \u2026'), ' or with ', h('code', 'agora login'), '.')));
      secret.focus();
      secret.select();
      load();
    } catch (err) {
      showErrors(form, err);
    }
  });

  mount(main,
    h('div.d-flex.flex-wrap.align-items-center.justify-content-between.gap-2.mb-4',
      h('div', h('h1.h3.mb-0', 'Your account'), h('p.text-body-secondary.mb-0', `Signed in as ${u.username}${u.email ? ` (${u.email})` : ''}`)),
      h('div.d-flex.gap-2',
        h('a.btn.btn-outline-primary', { href: userHref(u.username) }, 'View profile'),
        h('a.btn.btn-outline-secondary', { href: '#/settings/profile' }, 'Edit profile'))),
    h('div.row.g-4',
      h('div.col-lg-8',
        h('section.card', { 'aria-labelledby': 'tok-h' }, h('div.card-body',
          h('h2.h5', { id: 'tok-h' }, 'API tokens'),
          h('p.small.text-body-secondary', 'Tokens let the agora CLI and your scripts act as you. Each is shown once; revoke any you no longer use.'),
          form, shown, list))),
      h('div.col-lg-4',
        h('section.card', { 'aria-labelledby': 'wal-h' }, h('div.card-body',
          h('h2.h5', { id: 'wal-h' }, 'Wallets'),
          h('p.small.text-body-secondary', 'Linked Ethereum addresses sign you in and make the licences they buy yours.'),
          walletsBox,
          h('a.btn.btn-sm.btn-outline-primary', { href: '#/wallet' }, 'Manage wallet'))))));
  loadWallets();
  await load();
}
