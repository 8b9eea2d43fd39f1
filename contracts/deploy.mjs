#!/usr/bin/env node
// deploy.mjs - deploys AgoraToken, ModelRegistry, Marketplace (+ optional ArbitrationPanel) and writes a manifest.
//
// usage: node contracts/deploy.mjs --rpc URL --artifacts DIR --out MANIFEST.json [options]
//   --rpc URL              JSON-RPC endpoint (default $AGORA_RPC_URL, else http://127.0.0.1:8545)
//   --key HEX              deployer private key (default $AGORA_DEPLOYER_KEY; --key-file FILE reads it)
//   --artifacts DIR        output of build.mjs (required)
//   --out FILE             manifest to write; ABI files go to <dir of FILE>/abi/
//   --fee-bps N            platform fee (default 250 = 2.5%)
//   --royalty-bps N        total royalty to parent owners (default 500 = 5%)
//   --dispute-window S     escrow/dispute window in seconds (default 259200 = 3 days)
//   --initial-supply AGR   tokens minted to the deployer (default 1000000)
//   --faucet auto|on|off   faucet (auto = on when chain id is 31337 or 1337; default auto)
//   --treasury ADDR        fee recipient (default deployer)
//   --pricing-signer ADDR  quote signer (default deployer)
//   --arbitrator ADDR|panel  dispute arbitrator; "panel" deploys an ArbitrationPanel governed by
//                          the deployer, with the deployer appointed arbiter (default deployer)
//   --governance ADDR      starts a governance transfer to ADDR, which must acceptGovernance()
//   --timeout S            per-transaction receipt timeout (default 120)
// Prints the manifest path on success; exits 1 with a message on failure, 2 on bad usage.
import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonRpcProvider, Wallet, ContractFactory, NonceManager, parseUnits, isAddress, getAddress } from 'ethers';

const DEV_CHAINS = [31337n, 1337n];

export function readArtifact(dir, name) {
  const a = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
  if (!Array.isArray(a.abi) || typeof a.bytecode !== 'string' || a.bytecode.length < 4) {
    throw new Error(`${dir}/${name}.json is not a build.mjs artifact (run contracts/build.mjs)`);
  }
  return a;
}

/**
 * Polls for the receipt of `hash` until it exists or `timeoutMs` passes. (ethers' tx.wait()
 * waits for a new block when the receipt is not there on its first look; on an automining dev
 * chain the transaction's block may already be the last one, and under load that hangs until
 * the timeout.) Returns the receipt; throws on timeout.
 */
async function waitReceipt(provider, hash, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rc = await provider.getTransactionReceipt(hash);
    if (rc) return rc;
    if (Date.now() > deadline) throw new Error(`transaction ${hash} not mined within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function deployOne(signer, artifactsDir, name, args, timeoutMs) {
  const a = readArtifact(artifactsDir, name);
  const factory = new ContractFactory(a.abi, a.bytecode, signer);
  let c;
  try {
    c = await factory.deploy(...args);
  } catch (e) {
    // name the custom error the constructor reverted with, if the ABI knows it; Ganache puts
    // eth_estimateGas revert data in error.data.result, which ethers does not unpack
    const raw = e?.info?.error?.data;
    const data = e?.data ?? (raw && typeof raw === 'object' ? raw.result : raw);
    let why = e.shortMessage || e.message;
    try {
      const d = factory.interface.parseError(data);
      if (d) why = `${d.name}(${d.args.join(', ')})`;
    } catch { /* not a known error */ }
    throw new Error(`${name}: deployment reverted: ${why}`);
  }
  const tx = c.deploymentTransaction();
  const rc = await waitReceipt(signer.provider, tx.hash, timeoutMs);
  if (!rc || rc.status !== 1) throw new Error(`${name}: deployment transaction ${tx.hash} failed`);
  return { contract: c, address: await c.getAddress(), txHash: tx.hash, block: rc.blockNumber, abi: a.abi };
}

async function send(what, promise, timeoutMs) {
  const tx = await promise;
  const rc = await waitReceipt(tx.provider, tx.hash, timeoutMs);
  if (!rc || rc.status !== 1) throw new Error(`${what}: transaction ${tx.hash} failed`);
  return rc;
}

/**
 * Deploys the whole set with `signer` (an ethers Signer connected to a provider) and wires it.
 * Returns the manifest object ({chainId, block, deployer, contracts: {Name: {address, abi, txHash,
 * block}}, params, roles}); `abi` holds the ABI array (main() replaces it with a file name).
 * Throws on any failed transaction or invalid option.
 */
export async function deployAll(signer, artifactsDir, opts = {}) {
  const provider = signer.provider;
  const chainId = (await provider.getNetwork()).chainId;
  const deployer = getAddress(await signer.getAddress());
  const timeoutMs = (opts.timeout ?? 120) * 1000;
  const isDev = DEV_CHAINS.includes(chainId);
  const faucetMode = opts.faucet ?? 'auto';
  if (!['auto', 'on', 'off'].includes(faucetMode)) throw new Error(`--faucet must be auto, on or off`);
  if (faucetMode === 'on' && !isDev) throw new Error(`the faucet is only allowed on chain ids 31337 and 1337, not ${chainId}`);
  const faucet = faucetMode === 'on' || (faucetMode === 'auto' && isDev);
  const feeBps = BigInt(opts.feeBps ?? 250);
  const royaltyBps = BigInt(opts.royaltyBps ?? 500);
  const disputeWindow = BigInt(opts.disputeWindow ?? 3 * 24 * 3600);
  // The Marketplace's caps, checked before anything is deployed so a bad option wastes nothing.
  if (feeBps > 1000n) throw new Error(`fee ${feeBps} bps is above the contract's MAX_FEE_BPS (1000)`);
  if (royaltyBps > 1000n) throw new Error(`royalty ${royaltyBps} bps is above the contract's MAX_ROYALTY_BPS (1000)`);
  if (disputeWindow > 30n * 86400n) throw new Error(`dispute window ${disputeWindow} s is above the contract's MAX_DISPUTE_WINDOW (30 days)`);
  const initialSupply = parseUnits(String(opts.initialSupply ?? '1000000'), 18);
  const addr = (v, what) => {
    if (v === undefined || v === null) return deployer;
    if (!isAddress(v)) throw new Error(`${what}: not an address: ${v}`);
    return getAddress(v);
  };
  const treasury = addr(opts.treasury, '--treasury');
  const pricingSigner = addr(opts.pricingSigner, '--pricing-signer');
  const usePanel = opts.arbitrator === 'panel';

  const startBlock = await provider.getBlockNumber();
  const deployed = {};
  deployed.AgoraToken = await deployOne(signer, artifactsDir, 'AgoraToken', [deployer, initialSupply, faucet], timeoutMs);
  deployed.ModelRegistry = await deployOne(signer, artifactsDir, 'ModelRegistry', [], timeoutMs);
  let arbitrator;
  if (usePanel) {
    deployed.ArbitrationPanel = await deployOne(signer, artifactsDir, 'ArbitrationPanel', [deployer], timeoutMs);
    arbitrator = deployed.ArbitrationPanel.address;
    await send('ArbitrationPanel.setArbiter', deployed.ArbitrationPanel.contract.setArbiter(deployer, true), timeoutMs);
  } else {
    arbitrator = addr(opts.arbitrator, '--arbitrator');
  }
  deployed.Marketplace = await deployOne(signer, artifactsDir, 'Marketplace', [
    deployed.AgoraToken.address, deployed.ModelRegistry.address, deployer, treasury, pricingSigner, arbitrator,
    feeBps, royaltyBps, disputeWindow,
  ], timeoutMs);
  let pendingGovernance = null;
  if (opts.governance !== undefined && opts.governance !== null) {
    pendingGovernance = addr(opts.governance, '--governance');
    if (pendingGovernance !== deployer) {
      await send('Marketplace.transferGovernance', deployed.Marketplace.contract.transferGovernance(pendingGovernance), timeoutMs);
    } else {
      pendingGovernance = null;
    }
  }

  // Read the wiring back from the chain, so the manifest states what is, not what was asked.
  const m = deployed.Marketplace.contract;
  const contracts = {};
  for (const [name, d] of Object.entries(deployed)) {
    contracts[name] = { address: d.address, abi: d.abi, txHash: d.txHash, block: d.block };
  }
  return {
    chainId: Number(chainId),
    block: startBlock + 1,
    deployer,
    deployedAt: new Date().toISOString(),
    contracts,
    params: {
      feeBps: Number(await m.feeBps()),
      royaltyBps: Number(await m.royaltyBps()),
      disputeWindow: Number(await m.disputeWindow()),
      faucet: await deployed.AgoraToken.contract.faucetEnabled(),
    },
    roles: {
      governance: await m.governance(),
      pendingGovernance,
      treasury: await m.treasury(),
      pricingSigner: await m.pricingSigner(),
      arbitrator: await m.arbitrator(),
    },
  };
}

/** Writes the manifest to `file` and each ABI to <dir>/abi/<Name>.json (atomic renames). */
export function writeManifest(manifest, file) {
  const dir = dirname(resolve(file));
  mkdirSync(join(dir, 'abi'), { recursive: true });
  const out = { ...manifest, contracts: {} };
  for (const [name, c] of Object.entries(manifest.contracts)) {
    const rel = `abi/${name}.json`;
    const tmp = join(dir, `${rel}.tmp-${process.pid}`);
    writeFileSync(tmp, JSON.stringify(c.abi, null, 2) + '\n');
    renameSync(tmp, join(dir, rel));
    out.contracts[name] = { ...c, abi: rel };
  }
  const tmp = `${resolve(file)}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(out, null, 2) + '\n');
  renameSync(tmp, resolve(file));
  return out;
}

function usage(msg) {
  if (msg) console.error(`deploy.mjs: ${msg}`);
  console.error('usage: node contracts/deploy.mjs --rpc URL --artifacts DIR --out MANIFEST.json [--key HEX | --key-file FILE]\n' +
    '       [--fee-bps N] [--royalty-bps N] [--dispute-window S] [--initial-supply AGR] [--faucet auto|on|off]\n' +
    '       [--treasury ADDR] [--pricing-signer ADDR] [--arbitrator ADDR|panel] [--governance ADDR] [--timeout S]');
  process.exit(2);
}

function parseArgs(argv) {
  const flags = {
    '--rpc': 'rpc', '--key': 'key', '--key-file': 'keyFile', '--artifacts': 'artifacts', '--out': 'out',
    '--fee-bps': 'feeBps', '--royalty-bps': 'royaltyBps', '--dispute-window': 'disputeWindow',
    '--initial-supply': 'initialSupply', '--faucet': 'faucet', '--treasury': 'treasury',
    '--pricing-signer': 'pricingSigner', '--arbitrator': 'arbitrator', '--governance': 'governance', '--timeout': 'timeout',
  };
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    if (a === '-h' || a === '--help') usage();
    const k = flags[a];
    if (!k) usage(`unknown argument ${a}`);
    if (v === undefined) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      v = argv[++i];
    }
    o[k] = v;
  }
  for (const k of ['feeBps', 'royaltyBps', 'disputeWindow', 'timeout']) {
    if (o[k] !== undefined && !/^[0-9]{1,12}$/.test(o[k])) usage(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} must be a non-negative integer`);
  }
  if (o.initialSupply !== undefined && !/^[0-9]{1,30}(\.[0-9]{1,18})?$/.test(o.initialSupply)) usage('--initial-supply must be a decimal amount');
  if (!o.artifacts) usage('--artifacts is required');
  if (!o.out) usage('--out is required');
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const rpc = o.rpc || process.env.AGORA_RPC_URL || 'http://127.0.0.1:8545';
  let key = o.key || process.env.AGORA_DEPLOYER_KEY;
  if (o.keyFile) key = readFileSync(o.keyFile, 'utf8').trim();
  if (!key) usage('no deployer key: --key, --key-file or $AGORA_DEPLOYER_KEY');
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) usage('the deployer key must be 32 bytes of hex');
  const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, polling: true, pollingInterval: 250 });
  try {
    await provider.send('eth_chainId', []);
  } catch (e) {
    throw new Error(`cannot reach ${rpc}: ${e.shortMessage || e.message}`);
  }
  const signer = new NonceManager(new Wallet(key.startsWith('0x') ? key : '0x' + key, provider));
  const manifest = await deployAll(signer, o.artifacts, {
    ...o,
    feeBps: o.feeBps, royaltyBps: o.royaltyBps, disputeWindow: o.disputeWindow,
    timeout: o.timeout !== undefined ? Number(o.timeout) : undefined,
  });
  writeManifest(manifest, o.out);
  provider.destroy();
  console.log(resolve(o.out));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    const r = e.revert ? ` (${e.revert.name}(${e.revert.args.join(', ')}))` : '';
    console.error(`deploy.mjs: ${e.shortMessage || e.message}${r}`);
    process.exit(1);
  });
}
