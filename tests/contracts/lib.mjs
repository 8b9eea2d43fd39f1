// lib.mjs - shared helpers for the contract tests: build artifacts, a real dev chain (anvil, or
// Ganache with AGORA_TEST_CHAIN=ganache) on a free port, deployment of the full set, the dev
// wallets, custom-error assertions and chain time control.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { JsonRpcProvider, HDNodeWallet, Interface, Contract, keccak256, toUtf8Bytes, Signature } from 'ethers';
import { deployAll, writeManifest } from '../../contracts/deploy.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = process.env.AGORA_SRC ? resolve(process.env.AGORA_SRC) : resolve(here, '..', '..');
export const ANVIL = join(ROOT, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
export const GANACHE = join(ROOT, 'node_modules/ganache/dist/node/cli.js');
// Both chains derive their ten funded dev accounts from this mnemonic, so the keys are the same.
const MNEMONIC = 'test test test test test test test test test test test junk';

/** Which dev chain the tests run on: AGORA_TEST_CHAIN=anvil (default) or ganache. */
export const CHAIN_KIND = (process.env.AGORA_TEST_CHAIN || 'anvil').toLowerCase();
if (!['anvil', 'ganache'].includes(CHAIN_KIND)) throw new Error(`AGORA_TEST_CHAIN must be anvil or ganache, not ${CHAIN_KIND}`);
/** The default chain id of that dev chain: 31337 for anvil, 1337 for Ganache. */
export const DEV_CHAIN_ID = CHAIN_KIND === 'ganache' ? 1337 : 31337;

// The command line that starts the chosen chain on `port`, with `chainId` when given.
function chainCommand(port, chainId) {
  if (CHAIN_KIND === 'ganache') {
    const args = [GANACHE, '--server.host', '127.0.0.1', '--server.port', String(port),
      '--wallet.mnemonic', MNEMONIC, '--wallet.totalAccounts', '10', '--wallet.defaultBalance', '10000',
      '--chain.hardfork', 'shanghai', '--logging.quiet'];
    if (chainId !== undefined) args.push('--chain.chainId', String(chainId));
    return [process.execPath, args];
  }
  const args = ['--port', String(port), '--silent'];
  if (chainId !== undefined) args.push('--chain-id', String(chainId));
  return [ANVIL, args];
}

let artifactsDir = null;

/**
 * Returns the directory of compiled artifacts: $CONTRACTS_OUT (set by CTest to the build tree)
 * or a per-user cache under the temp dir. Runs build.mjs, which skips when nothing changed.
 */
export function artifacts() {
  if (artifactsDir) return artifactsDir;
  const out = process.env.CONTRACTS_OUT || join(tmpdir(), `agora-contracts-${process.getuid?.() ?? 0}`);
  const r = spawnSync(process.execPath, [join(ROOT, 'contracts/build.mjs'), '--out', out, '--quiet'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`contracts/build.mjs failed (${r.status}): ${r.stderr}`);
  artifactsDir = out;
  return out;
}

export function artifact(name) {
  return JSON.parse(readFileSync(join(artifacts(), `${name}.json`), 'utf8'));
}

// One Interface holding every custom error of every artifact, to decode reverts raised anywhere
// in a call chain (e.g. the token's ERC20InsufficientAllowance inside Marketplace.buy).
let allErrors = null;
function errorInterface() {
  if (allErrors) return allErrors;
  const seen = new Set();
  const frags = [];
  for (const f of readdirSync(artifacts())) {
    if (!f.endsWith('.json') || f === 'build-info.json') continue;
    for (const item of JSON.parse(readFileSync(join(artifacts(), f), 'utf8')).abi) {
      if (item.type !== 'error') continue;
      const sig = `${item.name}(${item.inputs.map((i) => i.type).join(',')})`;
      if (seen.has(sig)) continue;
      seen.add(sig);
      frags.push(item);
    }
  }
  allErrors = new Interface(frags);
  return allErrors;
}

export const freePort = () => new Promise((res, rej) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  s.on('error', rej);
});

/**
 * Starts the dev chain (CHAIN_KIND) on a free port, with chain id `opts.chainId` when given, and
 * waits until it answers. Returns {url, provider, stop()}; stop() kills it. Retries another port
 * if the chosen one was taken in between.
 */
export async function startChain(opts = {}) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const [cmd, args] = chainCommand(port, opts.chainId);
    const proc = spawn(cmd, args, { stdio: 'ignore' });
    let exited = false;
    proc.on('exit', () => { exited = true; });
    // never leave a chain behind, even when a test throws past its after() hook
    const reap = () => { if (!exited) proc.kill('SIGKILL'); };
    process.once('exit', reap);
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 600 && !exited; i++) {
      try {
        const r = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        });
        const { result } = await r.json();
        // the answer may come from another process that took the port first, while ours is
        // still failing to bind: make sure ours is alive a moment later
        await new Promise((res) => setTimeout(res, 200));
        if (exited) break;
        const provider = new JsonRpcProvider(url, Number(result), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
        return {
          url,
          provider,
          stop: () => { provider.destroy(); process.removeListener('exit', reap); proc.kill('SIGTERM'); },
        };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    process.removeListener('exit', reap);
    proc.kill('SIGKILL');
  }
  throw new Error(`${CHAIN_KIND} did not start`);
}

/** The chain's i-th dev account (10 exist, each with 10,000 ETH), connected to `provider`. */
export function devWallet(provider, i) {
  return HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).connect(provider);
}

/**
 * Deploys the full set with deploy.mjs's deployAll from dev account 0 and returns
 * {manifest, token, registry, market, panel?} as ethers Contracts connected to the deployer.
 */
export async function deploySet(provider, opts = {}) {
  const deployer = devWallet(provider, 0);
  const manifest = await deployAll(deployer, artifacts(), opts);
  const c = (name) => new Contract(manifest.contracts[name].address, manifest.contracts[name].abi, deployer);
  const set = { manifest, deployer, token: c('AgoraToken'), registry: c('ModelRegistry'), market: c('Marketplace') };
  if (manifest.contracts.ArbitrationPanel) set.panel = c('ArbitrationPanel');
  return set;
}

export { writeManifest };

/**
 * Returns an async function that yields the deployed set in its freshly deployed state: the
 * first call deploys (deploySet) and takes an evm_snapshot; each later call reverts to that
 * snapshot (and takes a new one, since anvil and Ganache consume a snapshot on revert). Much faster than
 * redeploying for every test; contract addresses stay the same. `setup(set)`, when given, runs
 * once after the deployment and before the snapshot (e.g. to fund accounts).
 */
export function freshSet(provider, opts = {}, setup = null) {
  let set = null;
  let snap = null;
  return async () => {
    if (!set) {
      set = await deploySet(provider, opts);
      if (setup) await setup(set);
    } else {
      const ok = await provider.send('evm_revert', [snap]);
      assert.equal(ok, true, 'evm_revert to the deployment snapshot');
    }
    snap = await provider.send('evm_snapshot', []);
    return set;
  };
}

/**
 * The revert data carried by an ethers error, or null. anvil puts it in the JSON-RPC error's
 * "data" string; Ganache does so for eth_call, but for eth_estimateGas it sends an object
 * {hash, programCounter, result, reason, message} whose "result" holds the data, which ethers
 * does not unpack ("missing revert data").
 */
export function revertData(e) {
  const raw = e?.info?.error?.data ?? e?.error?.data;
  const data = e?.data ?? (raw && typeof raw === 'object' ? raw.result : raw);
  return typeof data === 'string' ? data : null;
}

/** Decodes the revert data carried by an ethers error, or null. */
export function decodeRevert(e) {
  const data = revertData(e);
  if (typeof data !== 'string' || data.length < 10) return null;
  try {
    return errorInterface().parseError(data);
  } catch {
    return null;
  }
}

/**
 * Asserts that `promise` (a contract call or transaction) reverts with custom error `name`, and
 * when `args` is given, with exactly those arguments (compared as strings). Returns the decoded error.
 */
export async function expectRevert(promise, name, args) {
  let err = null;
  try {
    const r = await promise;
    if (r && typeof r.wait === 'function') {
      const rc = await receiptOf(r);
      if (rc.status !== 1) await r.wait(); // throws the CALL_EXCEPTION with the revert data
    }
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected revert ${name}, but the call succeeded`);
  const dec = decodeRevert(err);
  assert.ok(dec, `expected revert ${name}, got an undecodable error: ${err.shortMessage || err.message}`);
  assert.equal(dec.name, name, `expected revert ${name}, got ${dec.name}(${dec.args.join(', ')})`);
  if (args) {
    assert.deepEqual(dec.args.map(String), args.map(String), `${name} arguments`);
  }
  return dec;
}

/** Mines one block at exactly `timestamp` (seconds). */
export async function mineAt(provider, timestamp) {
  await provider.send('evm_mine', [Number(timestamp)]);
}

/** Advances chain time by `seconds` and mines a block. */
export async function increaseTime(provider, seconds) {
  await provider.send('evm_increaseTime', [Number(seconds)]);
  await provider.send('evm_mine', []);
}

export async function latestTimestamp(provider) {
  return BigInt((await provider.getBlock('latest')).timestamp);
}

/**
 * Polls for the receipt of transaction `tx` (60 s at most). Not tx.wait(): when the receipt is
 * missing on its first look, ethers waits for a *new* block, and on an automining chain the
 * transaction's block can already be the last one (a hang seen under load).
 */
export async function receiptOf(tx) {
  for (let i = 0; i < 600; i++) {
    const rc = await tx.provider.getTransactionReceipt(tx.hash);
    if (rc) return rc;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`transaction ${tx.hash} not mined within 60 s`);
}

/** Sends a transaction and waits for its receipt; fails the test on a revert. */
export async function mined(promise) {
  const tx = await promise;
  const rc = await receiptOf(tx);
  assert.equal(rc.status, 1, 'transaction succeeded');
  return rc;
}

/** The events named `name` that `contract` emitted in receipt `rc`, decoded. */
export function eventsOf(contract, rc, name) {
  const addr = contract.target.toLowerCase();
  const out = [];
  for (const log of rc.logs) {
    if (log.address.toLowerCase() !== addr) continue;
    const p = contract.interface.parseLog(log);
    if (p && p.name === name) out.push(p);
  }
  return out;
}

export const slug = (s) => keccak256(toUtf8Bytes(s));
export const sha = (s) => keccak256(toUtf8Bytes(`content:${s}`)); // any non-zero 32 bytes

/**
 * Registers a model owned by `owner` and publishes one version with the given parents.
 * Returns the model id.
 */
export async function newModel(registry, owner, name, parents = [], version = '1.0.0') {
  const r = registry.connect(owner);
  const rc = await mined(r.registerModel(slug(name), `ipfs://meta/${name}`));
  const id = eventsOf(registry, rc, 'ModelRegistered')[0].args.modelId;
  await mined(r.publishVersion(id, version, `bafy${name.replace(/[^a-z0-9]/g, '')}`, sha(name), parents, [], sha(`meta-${name}`)));
  return id;
}

/** Signs an EIP-2612 permit of `value` from `owner` to `spender`; returns {deadline, v, r, s}. */
export async function signPermit(token, owner, spender, value, deadline) {
  const { chainId } = await owner.provider.getNetwork();
  const nonce = await token.nonces(owner.address);
  const sig = await owner.signTypedData(
    { name: 'Agora', version: '1', chainId, verifyingContract: token.target },
    { Permit: [
      { name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' },
      { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' },
    ] },
    { owner: owner.address, spender, value, nonce, deadline },
  );
  const s = Signature.from(sig);
  return { deadline, v: s.v, r: s.r, s: s.s };
}

export const QUOTE_TYPES = {
  Quote: [
    { name: 'modelId', type: 'uint256' }, { name: 'buyer', type: 'address' }, { name: 'price', type: 'uint256' },
    { name: 'expiry', type: 'uint256' }, { name: 'nonce', type: 'uint256' },
  ],
};

/** Signs a price quote with `signer` for `market` (domain AgoraMarketplace/1). */
export async function signQuote(market, signer, quote) {
  const { chainId } = await signer.provider.getNetwork();
  return signer.signTypedData({ name: 'AgoraMarketplace', version: '1', chainId, verifyingContract: market.target }, QUOTE_TYPES, quote);
}

export function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  return { path: d, remove: () => rmSync(d, { recursive: true, force: true }) };
}
