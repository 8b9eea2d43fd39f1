// disputes.js - purchase disputes on the chain: the buyer opens one from the
// library (Marketplace.openDispute, within the purchase's dispute window),
// the seller sees disputed sales with their reasons, and whoever holds the
// marketplace's arbitrator role rules refund or release (Marketplace.rule
// when the arbitrator is this wallet; ArbitrationPanel.giveRuling when the
// arbitrator is a panel and this wallet one of its arbiters).
//
// The node's index says which purchases are disputed; the dispute itself
// (id, times, ruling) is read from the contract and its reason from the
// DisputeOpened event, all through the node's relay. The relay bounds
// eth_getLogs to 10,000 blocks, so reasons are looked up in chunks from the
// purchases' blocks (or back from the head), at most LOG_CHUNKS of them.
// Loaded on demand with the wallet code (ethers).

import { Contract, getAddress, id as keccakId, toBeHex, zeroPadValue } from 'ethers';
import * as ABI from './abi.js';
import { api } from './api.js';
import { contracts, relayProvider, wallet } from './chain.js';

export const MAX_REASON_BYTES = 1024; // Marketplace.MAX_REASON_LENGTH
export const RULING_REFUND = 1;
export const RULING_RELEASE = 2;
export const RULINGS = { 0: 'pending', 1: 'refund', 2: 'release' };

const LOG_SPAN = 10000; // the relay's eth_getLogs bound
const LOG_CHUNKS = 40; // how far a reason is looked for: 400,000 blocks
const LOG_PARALLEL = 4;
const INDEX_WAIT_MS = 60000;
const MAX_LISTED = 50; // disputes the arbitrator's view reads at once
// Reads in flight at once: the node's per-account rate limit (20/s, bursts
// of 200 by default) covers every request of the page, the relay's included.
const READ_PARALLEL = 6;

const utf8 = new TextEncoder();

// Why a reason cannot be sent, or null when it can: 1..1,024 bytes of
// UTF-8 once trimmed (what the contract accepts).
export function reasonProblem(text) {
  const t = String(text || '').trim();
  if (!t) return 'Say why you dispute this purchase: the arbitrator reads it.';
  const n = utf8.encode(t).length;
  if (n > MAX_REASON_BYTES) return `The reason is ${n.toLocaleString('en')} bytes long; at most ${MAX_REASON_BYTES.toLocaleString('en')} fit on-chain. Shorten it.`;
  return null;
}

export function reasonBytes(text) {
  return utf8.encode(String(text || '').trim()).length;
}

// fn over items, at most `n` at a time; the results in order.
async function mapLimit(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next;
      next += 1;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

// The chain's clock (the latest block's timestamp), in seconds.
export async function chainNow(info) {
  const head = await relayProvider(info).getBlock('latest');
  return head ? head.timestamp : Math.floor(Date.now() / 1000);
}

function disputeRecord(id, d) {
  return {
    id: Number(id),
    purchaseId: Number(d.purchaseId),
    openedAt: Number(d.openedAt),
    ruledAt: Number(d.ruledAt),
    ruling: RULINGS[Number(d.ruling)] || 'unknown',
    reason: null,
  };
}

// Fills .reason (and .block) of each dispute from its DisputeOpened event,
// scanning [from, to] forwards (or backwards from `to` when `backwards`) in
// relay-sized chunks until every dispute is found or LOG_CHUNKS are read.
async function attachReasons(p, market, disputes, { from, to, backwards = false }) {
  const want = new Map(disputes.map((d) => [d.id, d]));
  if (!want.size) return;
  const ev = market.interface.getEvent('DisputeOpened');
  const topics = [ev.topicHash, [...want.keys()].map((id) => zeroPadValue(toBeHex(id), 32))];
  const address = await market.getAddress();
  const ranges = [];
  for (let i = 0; i < LOG_CHUNKS; i += 1) {
    const lo = backwards ? to - (i + 1) * LOG_SPAN + 1 : from + i * LOG_SPAN;
    const hi = backwards ? to - i * LOG_SPAN : Math.min(to, from + (i + 1) * LOG_SPAN - 1);
    if (backwards ? hi < Math.max(from, 0) : lo > to) break;
    ranges.push([Math.max(lo, from, 0), hi]);
  }
  for (let i = 0; i < ranges.length && [...want.values()].some((d) => d.reason === null); i += LOG_PARALLEL) {
    const batch = ranges.slice(i, i + LOG_PARALLEL);
    const logs = (await Promise.all(batch.map(([lo, hi]) => p.getLogs({ address, topics, fromBlock: lo, toBlock: hi })))).flat();
    for (const log of logs) {
      const parsed = market.interface.parseLog(log);
      const d = parsed && want.get(Number(parsed.args.disputeId));
      if (d && d.reason === null) {
        d.reason = parsed.args.reason;
        d.block = log.blockNumber;
      }
    }
  }
}

// The disputes of purchases (rows of /library or /sales): a Map from
// purchase id (as a string, the API's type) to {id, purchaseId, openedAt,
// ruledAt, ruling, reason}, for
// the purchases that have one. Reads at most `limit` purchases.
export async function disputesOf(info, purchases, { limit = 100 } = {}) {
  const p = relayProvider(info);
  const { market } = contracts(info, p);
  const rows = purchases.slice(0, limit);
  const found = (await mapLimit(rows, READ_PARALLEL, async (row) => {
    const rec = await market.getPurchase(row.purchase_id);
    if (!rec.disputeId) return null;
    return disputeRecord(rec.disputeId, await market.getDispute(rec.disputeId));
  })).filter(Boolean);
  if (found.length) {
    const from = Math.min(...rows.map((r) => Number(r.block_number) || 0));
    await attachReasons(p, market, found, { from, to: await p.getBlockNumber() });
  }
  return new Map(found.map((d) => [String(d.purchaseId), d]));
}

// Opens a dispute about `purchase` (a /library row) from the connected
// wallet, reporting progress through step(key, state, note): 'send',
// 'confirmed', 'indexing'. Resolves with the library row once the node has
// indexed the dispute. Throws ethers errors (for explainError) or Error.
export async function openDispute(info, purchase, reason, step) {
  if (!wallet.signer) throw new Error('Connect a wallet first.');
  const text = String(reason).trim();
  const problem = reasonProblem(text);
  if (problem) throw new Error(problem);
  if (getAddress(purchase.buyer) !== wallet.address) {
    throw Object.assign(new Error(`Only the wallet that paid (${purchase.buyer}) can dispute this purchase; the connected wallet is ${wallet.address}.`), { wallet: true });
  }
  const m = contracts(info, wallet.signer).market;
  step('send', 'active', 'confirm in your wallet');
  const tx = await m.openDispute(purchase.purchase_id, text);
  step('send', 'done');
  step('confirmed', 'active');
  const rc = await tx.wait(1);
  if (!rc || rc.status !== 1) throw new Error('The dispute transaction failed on-chain.');
  step('confirmed', 'done', `block ${rc.blockNumber}`);
  step('indexing', 'active');
  const until = Date.now() + INDEX_WAIT_MS;
  while (Date.now() < until) {
    const r = await api('GET', '/library');
    const row = r.items.find((x) => String(x.purchase_id) === String(purchase.purchase_id));
    if (row && row.status !== 'escrowed') {
      step('indexing', 'done');
      return row;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error('The dispute is on-chain, but the node has not indexed it yet. Reload in a minute.');
}

// How the connected wallet may rule: {arbitrator, via: 'direct' | 'panel',
// panel} when it holds the role (it is the arbitrator, or an arbiter of the
// ArbitrationPanel that is), else {arbitrator, via: null}.
export async function arbitratorRole(info, address) {
  const p = relayProvider(info);
  const { market } = contracts(info, p);
  const [arb, isContract] = await Promise.all([market.arbitrator(), market.arbitratorIsContract()]);
  const role = { arbitrator: getAddress(arb), via: null, panel: null };
  if (!address) return role;
  if (role.arbitrator === getAddress(address)) role.via = 'direct';
  else if (isContract) {
    const panel = new Contract(role.arbitrator, ABI.ArbitrationPanel, p);
    if (await panel.isArbiter(address)) {
      role.via = 'panel';
      role.panel = role.arbitrator;
    }
  }
  return role;
}

// The model a token is, as "owner/slug" when its registration's metadata
// URI says so and the name hashes to its slug hash (as the node checks),
// else null.
async function modelName(registry, tokenId) {
  try {
    const m = await registry.getModel(tokenId);
    const uri = String(m.metadataURI || '');
    if (!uri.startsWith('agora:')) return null;
    const name = uri.slice('agora:'.length);
    return /^[^/]+\/[^/]+$/.test(name) && keccakId(name) === m.slugHash ? name : null;
  } catch {
    return null;
  }
}

// The newest disputes (at most MAX_LISTED), newest first, each with its
// purchase: {id, purchaseId, openedAt, ruledAt, ruling, reason, tokenId,
// model, buyer, seller, price}. Also {total} disputes on-chain.
export async function recentDisputes(info) {
  const p = relayProvider(info);
  const { market, registry } = contracts(info, p);
  const total = Number(await market.disputeCount());
  const ids = [];
  for (let i = total; i >= 1 && ids.length < MAX_LISTED; i -= 1) ids.push(i);
  const list = await mapLimit(ids, READ_PARALLEL, async (id) => {
    const d = disputeRecord(id, await market.getDispute(id));
    const pr = await market.getPurchase(d.purchaseId);
    return {
      ...d,
      tokenId: Number(pr.modelId),
      buyer: getAddress(pr.buyer),
      seller: getAddress(pr.seller),
      price: pr.price.toString(),
      releaseAt: Number(pr.releaseAt),
    };
  });
  const names = new Map();
  await mapLimit([...new Set(list.map((d) => d.tokenId))], READ_PARALLEL, async (t) => names.set(t, await modelName(registry, t)));
  for (const d of list) d.model = names.get(d.tokenId);
  if (list.length) await attachReasons(p, market, list, { from: 0, to: await p.getBlockNumber(), backwards: true });
  return { total, items: list };
}

// Rules dispute `id` (RULING_REFUND or RULING_RELEASE) from the connected
// wallet as `role` says; step(key, state, note) as for openDispute, with
// 'send' and 'confirmed'. Resolves with the dispute as the chain now has it.
export async function rule(info, role, id, ruling, step) {
  if (!wallet.signer || !role.via) throw new Error('Connect the arbitrator\u2019s wallet first.');
  step('send', 'active', 'confirm in your wallet');
  const tx = role.via === 'direct'
    ? await contracts(info, wallet.signer).market.rule(id, ruling)
    : await new Contract(role.panel, ABI.ArbitrationPanel, wallet.signer).giveRuling(info.contracts.Marketplace, id, ruling);
  step('send', 'done');
  step('confirmed', 'active');
  const rc = await tx.wait(1);
  if (!rc || rc.status !== 1) throw new Error('The ruling transaction failed on-chain.');
  step('confirmed', 'done', `block ${rc.blockNumber}`);
  const { market } = contracts(info, relayProvider(info));
  return disputeRecord(id, await market.getDispute(id));
}
