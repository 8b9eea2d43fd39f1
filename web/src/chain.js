// chain.js - the UI's side of the chain: the node's chain info, a provider
// through the node's JSON-RPC relay (the CSP keeps the page on 'self'), the
// wallet (an injected EIP-1193 wallet, or on a development chain a burner
// kept in this browser), balances, the faucet, linking a wallet to the
// account with Sign-In with Ethereum, and readable transaction errors.
//
// Reads always go through the node's relay; an injected wallet only signs
// and sends. The burner's private key sits in localStorage in clear: it is
// for the local development chain only, and the UI says so.

import {
  BrowserProvider, Contract, FetchRequest, Interface, JsonRpcProvider, Network, Signature, Wallet, getAddress, isError,
} from 'ethers';
import * as ABI from './abi.js';
import { api } from './api.js';
import { session } from './session.js';
import { formatPrice } from './format.js';
import { chainReady, hasInjected, isDevChain, shortAddress } from './chaininfo.js';

export {
  DEV_CHAINS, chainInfo, chainReady, faucet, formatEth, hasInjected, isDevChain, linkedAddresses, shortAddress,
} from './chaininfo.js';

const KIND_KEY = 'agora.wallet';
const burnerKey = (chainId) => `agora.burner.${chainId}`;
const listeners = new Set();

// The connected wallet, or kind null.
export const wallet = { kind: null, address: null, signer: null };

export function onWalletChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) fn(wallet);
}

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch { /* storage may be disabled */ }
}

function load(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

// A provider on the node's relay. The relay is a POST under the session,
// so it carries the CSRF token like every other mutation.
export function relayProvider(info) {
  const req = new FetchRequest(`${location.origin}/api/v1/chain/rpc`);
  // The token of the session at the time of each request (a wallet may be
  // connected before its user logs in).
  req.preflightFunc = async (r) => {
    if (session.csrf) r.setHeader('X-CSRF-Token', session.csrf);
    return r;
  };
  req.timeout = 30000;
  const p = new JsonRpcProvider(req, Network.from(Number(info.chain_id)),
    // No response cache: a nonce read right after a mined transaction must be fresh.
    { staticNetwork: true, batchMaxCount: 1, polling: true, cacheTimeout: -1 });
  p.pollingInterval = 500;
  return p;
}

export function contracts(info, runner) {
  const c = info.contracts;
  return {
    token: new Contract(c.AgoraToken, ABI.AgoraToken, runner),
    registry: new Contract(c.ModelRegistry, ABI.ModelRegistry, runner),
    market: new Contract(c.Marketplace, ABI.Marketplace, runner),
  };
}

function setWallet(kind, address, signer) {
  wallet.kind = kind;
  wallet.address = address ? getAddress(address) : null;
  wallet.signer = signer;
  store(KIND_KEY, kind);
  emit();
}

// The burner wallet of this chain, created on first use when `create`.
export function connectBurner(info, { create = true } = {}) {
  if (!isDevChain(info)) throw new Error('A burner wallet exists only on a local development chain.');
  let key = load(burnerKey(info.chain_id));
  if (!key && !create) return null;
  if (!key) {
    key = Wallet.createRandom().privateKey;
    store(burnerKey(info.chain_id), key);
  }
  const w = new Wallet(key, relayProvider(info));
  setWallet('burner', w.address, w);
  return w;
}

export function forgetBurner(info) {
  store(burnerKey(info.chain_id), null);
  if (wallet.kind === 'burner') disconnect();
}

// Asks the injected wallet for an account (it prompts the user) and for
// the node's chain, switching the wallet to it when it is elsewhere.
export async function connectInjected(info, { prompt = true } = {}) {
  if (!hasInjected()) throw new Error('No browser wallet found. Install one (an EIP-1193 wallet such as a browser extension), or use the burner wallet on a development chain.');
  const eth = window.ethereum;
  const accounts = await eth.request({ method: prompt ? 'eth_requestAccounts' : 'eth_accounts' });
  if (!accounts || !accounts.length) {
    if (!prompt) return null;
    throw new Error('The wallet gave no account.');
  }
  const want = `0x${Number(info.chain_id).toString(16)}`;
  const have = await eth.request({ method: 'eth_chainId' });
  if (String(have).toLowerCase() !== want) {
    if (!prompt) return null;
    try {
      await eth.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: want }] });
    } catch (err) {
      throw new Error(`Your wallet is on chain ${parseInt(have, 16)}; switch it to chain ${info.chain_id}, which this marketplace uses (${err.message || 'the wallet refused to switch'}).`);
    }
  }
  const provider = new BrowserProvider(eth, Number(info.chain_id));
  const signer = await provider.getSigner(accounts[0]);
  setWallet('injected', accounts[0], signer);
  watchInjected(info);
  return signer;
}

let watching = false;
// Follows the wallet: another account becomes the connected one; leaving
// the node's chain (or locking the wallet) disconnects.
function watchInjected(info) {
  const eth = window.ethereum;
  if (watching || typeof eth.on !== 'function') return;
  watching = true;
  eth.on('accountsChanged', (accounts) => {
    if (wallet.kind !== 'injected') return;
    if (!accounts || !accounts.length) disconnect();
    else connectInjected(info, { prompt: false }).catch(() => disconnect());
  });
  eth.on('chainChanged', (chainId) => {
    if (wallet.kind === 'injected' && parseInt(chainId, 16) !== Number(info.chain_id)) disconnect();
  });
}

export function disconnect() {
  wallet.kind = null;
  wallet.address = null;
  wallet.signer = null;
  store(KIND_KEY, null);
  emit();
}

let restored = false;
// Reconnects the wallet chosen last time, without prompting. Returns the
// wallet (kind null when none).
export async function restoreWallet(info) {
  if (wallet.kind || restored || !chainReady(info)) return wallet;
  restored = true;
  const kind = load(KIND_KEY);
  try {
    if (kind === 'burner' && isDevChain(info)) connectBurner(info, { create: false });
    else if (kind === 'injected' && hasInjected()) await connectInjected(info, { prompt: false });
  } catch { /* stays disconnected */ }
  return wallet;
}

// {eth, tokens} in wei (bigint), read through the relay.
export async function balances(info, address) {
  const p = relayProvider(info);
  const { token } = contracts(info, p);
  const [eth, tokens] = await Promise.all([p.getBalance(address), token.balanceOf(address)]);
  return { eth, tokens };
}

// An EIP-4361 message for this page's host and the node's chain, with a
// fresh nonce from the node, signed by the connected wallet.
async function siweSigned(info, statement) {
  if (!wallet.signer) throw new Error('Connect a wallet first.');
  const { nonce } = await api('GET', '/auth/siwe/nonce');
  const now = new Date();
  const message = [
    `${location.host} wants you to sign in with your Ethereum account:`,
    wallet.address, '', statement, '',
    `URI: ${location.origin}`, 'Version: 1', `Chain ID: ${info.chain_id}`, `Nonce: ${nonce}`,
    `Issued At: ${now.toISOString()}`,
    `Expiration Time: ${new Date(now.getTime() + 10 * 60 * 1000).toISOString()}`,
  ].join('\n');
  const signature = await wallet.signer.signMessage(message);
  return { message, signature };
}

// Links the connected wallet to the signed-in account. Returns {address, linked_at}.
export async function linkWallet(info) {
  return api('POST', '/auth/siwe/link', { body: await siweSigned(info, 'Link this wallet to my Agora account.') });
}

// Signs in with the connected wallet (a cookie session): {user, csrf_token}.
export async function siweSignIn(info) {
  return api('POST', '/auth/siwe', { body: await siweSigned(info, 'Sign in to Agora.') });
}

const FRIENDLY = {
  AlreadyLicensed: () => 'This wallet already holds a licence for this model.',
  SellerCannotBuy: () => 'The seller cannot buy their own model.',
  NotForSale: () => 'This model is not for sale on-chain.',
  PriceAboveMax: (a) => `The price went up to ${formatPrice(a[0])} since you loaded the page. Reload to see the new price.`,
  NoVersionPublished: () => 'The seller has not published a version on-chain yet.',
  ERC20InsufficientBalance: () => 'Not enough AGR in this wallet. Take test tokens from the faucet on the Wallet page, or top it up.',
  ERC20InsufficientAllowance: () => 'The token allowance is too low: the permit was not accepted.',
  ERC2612ExpiredSignature: () => 'The payment permit expired before the purchase was mined. Try again.',
  ERC2612InvalidSigner: () => 'The payment permit was signed by another account than the one paying.',
  NothingToWithdraw: () => 'There is nothing to withdraw yet: sales are paid out when their escrow window ends.',
  FaucetCooldown: (a) => `This address took faucet tokens recently; try again after ${new Date(Number(a[1]) * 1000).toLocaleString()}.`,
  SlugTaken: () => 'This model is already registered on-chain.',
  VersionExists: () => 'This version is already published on-chain.',
  NotModelOwner: () => 'This wallet does not own the model on-chain.',
  EscrowLocked: () => 'The escrow window of this sale has not ended yet.',
  DisputeWindowClosed: (a) => `The dispute window of this purchase closed on ${new Date(Number(a[1]) * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}: it can no longer be disputed.`,
  NotBuyer: () => 'Only the wallet that paid for this licence can dispute it. Connect that wallet.',
  NotEscrowed: (a) => ({
    2: 'This purchase is already disputed: the arbitrator will rule on it.',
    3: 'This purchase was already released to the seller: it can no longer be disputed.',
    4: 'This purchase was already refunded.',
  })[Number(a[1])] || 'This purchase is no longer in escrow.',
  InvalidReason: (a) => `The reason must be 1 to ${a[1]} bytes long; this one is ${a[0]}.`,
  PurchaseNotFound: (a) => `There is no purchase #${a[0]} on-chain.`,
  DisputeNotFound: (a) => `There is no dispute #${a[0]} on-chain.`,
  AlreadyRuled: (a) => `Dispute #${a[0]} has already been ruled.`,
  CaseRuled: (a) => `Dispute #${a[1]} has already been ruled.`,
  InvalidRuling: () => 'A ruling is refund or release.',
  RulingOutOfRange: () => 'A ruling is refund or release.',
  NotArbitrator: () => 'This wallet does not hold the marketplace\u2019s arbitrator role.',
  NotArbiter: () => 'This wallet is not an arbiter of the marketplace\u2019s arbitration panel.',
};

const errorInterfaces = [ABI.Marketplace, ABI.AgoraToken, ABI.ModelRegistry, ABI.ArbitrationPanel].map((a) => new Interface(a));

// A revert's custom error, whichever of the contracts raised it (a token
// error surfaces inside a marketplace call, a marketplace error inside the
// arbitration panel's): {name, args} or null.
function decodeRevert(data) {
  for (const i of errorInterfaces) {
    try {
      const e = i.parseError(data);
      if (e) return { name: e.name, args: [...e.args] };
    } catch { /* not this contract's */ }
  }
  return null;
}

// A sentence for a failed wallet or contract call.
export function explainError(err) {
  if (!err) return 'Something went wrong.';
  if (isError(err, 'ACTION_REJECTED')) return 'You rejected the request in your wallet.';
  if (isError(err, 'INSUFFICIENT_FUNDS')) return 'Not enough ETH in this wallet to pay for gas. Use the faucet on the Wallet page (development chain) or top it up.';
  if (isError(err, 'NETWORK_ERROR') || isError(err, 'SERVER_ERROR') || isError(err, 'TIMEOUT')) return 'The chain could not be reached through the node. Try again in a moment.';
  let rev = err.revert || (err.info && err.info.error && err.info.error.revert);
  if (!rev && typeof err.data === 'string' && err.data.length >= 10) rev = decodeRevert(err.data);
  if (rev && rev.name) {
    const f = FRIENDLY[rev.name];
    return f ? f(rev.args || []) : `The contract refused: ${rev.name}.`;
  }
  if (err.reason) return `The contract refused: ${err.reason}.`;
  return err.shortMessage || err.message || String(err);
}

// EIP-2612 permit for `value` of the token to `spender`, signed by the
// connected wallet: {v, r, s, deadline}.
export async function signPermit(info, spender, value) {
  const p = relayProvider(info);
  const { token } = contracts(info, p);
  const [name, nonce, head] = await Promise.all([token.name(), token.nonces(wallet.address), p.getBlock('latest')]);
  // An hour by the chain's clock (which a development chain may have moved).
  const deadline = BigInt((head ? head.timestamp : Math.floor(Date.now() / 1000)) + 3600);
  const sig = Signature.from(await wallet.signer.signTypedData(
    { name, version: '1', chainId: Number(info.chain_id), verifyingContract: info.contracts.AgoraToken },
    { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' },
      { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
    { owner: wallet.address, spender, value, nonce, deadline }));
  return { v: sig.v, r: sig.r, s: sig.s, deadline };
}

