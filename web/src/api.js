// api.js - the one door to the node's JSON API (/api/v1).
//
// Every call returns the parsed JSON body or throws an ApiError carrying the
// API's {code, message, field}. Mutations carry the session's CSRF token in
// X-CSRF-Token, as the node requires for cookie sessions.

import { session } from './session.js';

const BASE = '/api/v1';
const MAX_BODY = 8 * 1024 * 1024; // replies longer than this are refused

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

// Builds "/api/v1/<path>?<query>" from a path and an object of query values
// (arrays repeat the key; empty values are left out).
export function apiUrl(path, query) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    for (const one of Array.isArray(v) ? v : [v]) {
      if (one !== undefined && one !== null && one !== '' && one !== false) qs.append(k, String(one));
    }
  }
  const s = qs.toString();
  return BASE + path + (s ? `?${s}` : '');
}

// Encodes each path segment: seg`/models/${owner}/${slug}`.
export function seg(strings, ...values) {
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

export async function api(method, path, { body, query, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(apiUrl(path, query), init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The node could not be reached. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  if (text.length > MAX_BODY) throw new ApiError(res.status, 'too_large', 'The reply was too large.');
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data && data.error ? data.error : {};
    if (res.status === 401) session.expired();
    throw new ApiError(res.status, e.code || 'http_' + res.status,
      e.message || `The node answered ${res.status} ${res.statusText}.`, e.field);
  }
  if (data === null) throw new ApiError(res.status, 'bad_reply', 'The node sent a reply that is not JSON.');
  return data;
}
