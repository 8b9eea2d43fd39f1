// session.js - who is signed in, and the CSRF token of their cookie session.
//
// The session cookie is HttpOnly, so the page cannot see it; a hint in
// localStorage says whether a session may exist, so that signed-out visitors
// never send a request bound to fail with 401.

const HINT = 'agora.session';
const listeners = new Set();

export const session = {
  user: null,
  csrf: null,
  ready: false,

  signedIn() {
    return this.user !== null;
  },
  set(user, csrf) {
    this.user = user;
    if (csrf) this.csrf = csrf;
    try {
      localStorage.setItem(HINT, '1');
    } catch { /* storage may be disabled */ }
    emit();
  },
  clear() {
    this.user = null;
    this.csrf = null;
    try {
      localStorage.removeItem(HINT);
    } catch { /* storage may be disabled */ }
    emit();
  },
  // Called by the API layer on any 401: the session ended elsewhere.
  expired() {
    if (this.user || this.hinted()) this.clear();
  },
  hinted() {
    try {
      return localStorage.getItem(HINT) === '1';
    } catch {
      return false;
    }
  },
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};

function emit() {
  for (const fn of listeners) fn(session.user);
}
