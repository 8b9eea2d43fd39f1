// chaininfo.js - what the UI knows about the node's chain without the
// wallet code (and without ethers, which chain.js loads on demand): the
// node's chain info, whether it is a development chain, whether a browser
// wallet is injected, linked addresses, the faucet, formatting, and the
// navigation's Disputes link for the arbitrator's wallet.

import { api } from './api.js';

export const DEV_CHAINS = [31337, 1337];

let infoCache = null;
let infoAt = 0;
// GET /api/v1/chain, kept for 15 s: {status, chain_id, contracts, ...}.
export async function chainInfo({ fresh = false, signal } = {}) {
  if (!fresh && infoCache && Date.now() - infoAt < 15000) return infoCache;
  infoCache = await api('GET', '/chain', { signal });
  infoAt = Date.now();
  return infoCache;
}

export function chainReady(info) {
  return Boolean(info && info.contracts && info.chain_id && info.status !== 'not_configured');
}

export function isDevChain(info) {
  return Boolean(info && DEV_CHAINS.includes(Number(info.chain_id)));
}

export function hasInjected() {
  return typeof window !== 'undefined' && Boolean(window.ethereum && window.ethereum.request);
}

export function faucet(address) {
  return api('POST', '/chain/faucet', { body: { address } });
}

// The addresses linked to the signed-in account, lowercase.
export async function linkedAddresses(signal) {
  const r = await api('GET', '/auth/wallets', { signal });
  return (r.wallets || []).map((w) => String(w.address).toLowerCase());
}

const ARBITER_KEY = 'agora.arbiter';

// Shows the navigation's Disputes link when `address` (the connected
// wallet) holds the arbitrator role, hides it when null, and remembers it
// for the next visit, which shows the link before the wallet code loads
// (the Disputes view itself checks the role again).
export function markArbiter(address) {
  try {
    if (address) localStorage.setItem(ARBITER_KEY, String(address).toLowerCase());
    else localStorage.removeItem(ARBITER_KEY);
  } catch { /* storage may be disabled */ }
  const li = document.getElementById('nav-disputes');
  if (li) li.hidden = !address;
}

// At boot: the Disputes link as last known, while a wallet is remembered.
export function restoreArbiterNav() {
  let on = false;
  try {
    on = Boolean(localStorage.getItem(ARBITER_KEY) && localStorage.getItem('agora.wallet'));
  } catch { /* storage may be disabled */ }
  const li = document.getElementById('nav-disputes');
  if (li) li.hidden = !on;
}

export function shortAddress(a) {
  return a ? `${a.slice(0, 6)}\u2026${a.slice(-4)}` : '';
}

// Wei (bigint or string) to "1.5 ETH" with up to 4 decimals.
export function formatEth(wei) {
  const s = BigInt(wei).toString().padStart(19, '0');
  const int = s.slice(0, -18);
  const frac = s.slice(-18, -14).replace(/0+$/, '');
  return `${int}${frac ? '.' + frac : ''} ETH`;
}
