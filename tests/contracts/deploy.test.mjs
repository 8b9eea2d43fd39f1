// deploy.test.mjs - contracts/build.mjs artifacts and contracts/deploy.mjs run as a CLI against a real dev chain (anvil or Ganache).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Contract, isAddress, parseEther, encryptKeystoreJson } from 'ethers';
import {
  startChain, artifacts, artifact, ROOT, tempDir, devWallet, freePort, DEV_CHAIN_ID, newModel, mined, eventsOf,
} from './lib.mjs';

const KEY0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'; // dev account 0 (anvil and Ganache, same mnemonic)
const OURS = ['AgoraToken', 'ModelRegistry', 'Marketplace', 'ArbitrationPanel', 'IArbitrable', 'IArbitrator'];
let chain, tmp;

before(async () => {
  artifacts();
  chain = await startChain();
  tmp = tempDir('agora-deploy-');
});
after(() => { chain?.stop(); tmp?.remove(); });

const node = (script, args, env = {}) => spawnSync(process.execPath, [join(ROOT, script), ...args], {
  encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env },
});

test('build.mjs wrote one artifact per contract with ABI, bytecode and NatSpec', () => {
  const dir = artifacts();
  const info = JSON.parse(readFileSync(join(dir, 'build-info.json'), 'utf8'));
  assert.match(info.solcVersion, /^0\.8\.28\+/);
  assert.deepEqual([...info.contracts].sort(), [...OURS].sort());
  for (const name of OURS) {
    const a = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
    assert.equal(a.contractName, name);
    assert.ok(Array.isArray(a.abi) && a.abi.length > 0, `${name} ABI`);
    if (name.startsWith('I')) continue;
    assert.match(a.bytecode, /^0x[0-9a-f]{200,}$/, `${name} bytecode`);
    const size = (a.deployedBytecode.length - 2) / 2;
    assert.ok(size > 0 && size <= 24576, `${name} runtime size ${size} within EIP-170`);
    // NatSpec on every external function declared in our own source
    const src = readFileSync(join(ROOT, a.sourceName), 'utf8');
    for (const f of a.abi.filter((x) => x.type === 'function')) {
      const declared = new RegExp(`function ${f.name}\\(|public[a-z ]* ${f.name}\\b`).test(src);
      if (!declared) continue;
      const sig = `${f.name}(${f.inputs.map((i) => (i.type.startsWith('tuple') ? `(${i.components.map((c) => c.type).join(',')})${i.type.slice(5)}` : i.type)).join(',')})`;
      const doc = a.userdoc?.methods?.[sig]?.notice || a.devdoc?.methods?.[sig] || a.devdoc?.stateVariables?.[f.name];
      assert.ok(doc, `${name}.${sig} has NatSpec`);
    }
  }
  const market = JSON.parse(readFileSync(join(dir, 'Marketplace.json'), 'utf8'));
  const ev = market.abi.find((x) => x.type === 'event' && x.name === 'LicensePurchased');
  assert.deepEqual(ev.inputs.filter((i) => i.indexed).map((i) => i.name), ['modelId', 'buyer']);
});

test('build.mjs is incremental and rejects bad usage', () => {
  const dir = artifacts();
  const before = statSync(join(dir, 'Marketplace.json')).mtimeMs;
  const r = node('contracts/build.mjs', ['--out', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /up to date/);
  assert.equal(statSync(join(dir, 'Marketplace.json')).mtimeMs, before, 'nothing rewritten');
  const u = node('contracts/build.mjs', []);
  assert.equal(u.status, 2);
  assert.match(u.stderr, /--out is required/);
  assert.equal(node('contracts/build.mjs', ['--out', dir, '--bogus']).status, 2);
});

test('deploy.mjs deploys, wires and writes the manifest and ABI files', async () => {
  const out = join(tmp.path, 'a', 'deployment.json');
  const r = node('contracts/deploy.mjs', ['--rpc', chain.url, '--artifacts', artifacts(), '--out', out,
    '--fee-bps', '300', '--royalty-bps', '700', '--dispute-window', '3600', '--initial-supply', '42.5'],
  { AGORA_DEPLOYER_KEY: KEY0 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), out);
  const m = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(m.chainId, DEV_CHAIN_ID);
  assert.ok(Number.isInteger(m.block) && m.block >= 1);
  assert.equal(m.deployer, devWallet(chain.provider, 0).address);
  assert.deepEqual(Object.keys(m.contracts).sort(), ['AgoraToken', 'Marketplace', 'ModelRegistry']);
  const c = {};
  for (const [name, d] of Object.entries(m.contracts)) {
    assert.ok(isAddress(d.address), `${name} address`);
    assert.equal(d.abi, `abi/${name}.json`);
    assert.ok(d.block >= m.block, `${name} deployed at or after the manifest block`);
    const abi = JSON.parse(readFileSync(join(tmp.path, 'a', d.abi), 'utf8'));
    assert.ok(Array.isArray(abi));
    assert.notEqual(await chain.provider.getCode(d.address), '0x', `${name} has code`);
    c[name] = new Contract(d.address, abi, chain.provider);
  }
  assert.equal(await c.Marketplace.token(), m.contracts.AgoraToken.address);
  assert.equal(await c.Marketplace.registry(), m.contracts.ModelRegistry.address);
  assert.equal(await c.Marketplace.feeBps(), 300n);
  assert.equal(await c.Marketplace.royaltyBps(), 700n);
  assert.equal(await c.Marketplace.disputeWindow(), 3600n);
  assert.deepEqual(m.params, { feeBps: 300, royaltyBps: 700, disputeWindow: 3600, faucet: true });
  for (const role of ['governance', 'treasury', 'pricingSigner', 'arbitrator']) assert.equal(m.roles[role], m.deployer, role);
  assert.equal(await c.AgoraToken.totalSupply(), 42_500000000000000000n);
  assert.equal(await c.AgoraToken.faucetEnabled(), true);
});

test('deploy.mjs with an arbitration panel, a separate governance, and its failures', async () => {
  const out = join(tmp.path, 'b', 'deployment.json');
  const gov = devWallet(chain.provider, 9).address;
  const r = node('contracts/deploy.mjs', ['--rpc', chain.url, '--key', KEY0, '--artifacts', artifacts(), '--out', out,
    '--arbitrator', 'panel', '--governance', gov, '--faucet', 'off', '--pricing-signer', devWallet(chain.provider, 8).address]);
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(readFileSync(out, 'utf8'));
  assert.ok(m.contracts.ArbitrationPanel);
  assert.equal(m.roles.arbitrator, m.contracts.ArbitrationPanel.address);
  assert.equal(m.roles.pendingGovernance, gov);
  assert.equal(m.roles.pricingSigner, devWallet(chain.provider, 8).address);
  assert.equal(m.params.faucet, false);
  assert.ok(existsSync(join(tmp.path, 'b', 'abi', 'ArbitrationPanel.json')));

  const bad = (args, env = {}) => node('contracts/deploy.mjs', ['--artifacts', artifacts(), '--out', join(tmp.path, 'x.json'), ...args], env);
  let e = bad(['--rpc', chain.url], { AGORA_DEPLOYER_KEY: '' });
  assert.equal(e.status, 2);
  assert.match(e.stderr, /no deployer key/);
  e = bad(['--rpc', chain.url, '--key', 'nothex']);
  assert.equal(e.status, 2);
  e = bad(['--rpc', chain.url, '--key', KEY0, '--fee-bps', '-1']);
  assert.equal(e.status, 2);
  e = bad(['--rpc', chain.url, '--key', KEY0, '--fee-bps', '5000']);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /MAX_FEE_BPS/);
  // a constructor revert is reported with its custom error's name
  e = bad(['--rpc', chain.url, '--key', KEY0, '--treasury', '0x0000000000000000000000000000000000000000']);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /Marketplace: deployment reverted: ZeroAddress\(\)/);
  e = bad(['--rpc', chain.url, '--key', KEY0, '--treasury', '0x1234']);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /--treasury: not an address/);
  e = bad(['--rpc', `http://127.0.0.1:${await freePort()}`, '--key', KEY0]);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /cannot reach/);
  assert.equal(existsSync(join(tmp.path, 'x.json')), false, 'no manifest after a failure');
});

// `agora chain deploy` (C, src/chain/deploy.c) beside deploy.mjs on the same chain: the same
// manifest shape and wiring, and contracts that behave the same (a purchase end to end).
const BIN = process.env.AGORA_BIN;
test('agora chain deploy (C) writes what deploy.mjs writes, and its contracts trade', { skip: !BIN && 'AGORA_BIN not set' }, async () => {
  const opts = ['--fee-bps', '300', '--royalty-bps', '700', '--dispute-window', '3600', '--initial-supply', '42.5',
    '--arbitrator', 'panel', '--pricing-signer', devWallet(chain.provider, 8).address];
  const js = join(tmp.path, 'js', 'chain.json');
  const r1 = node('contracts/deploy.mjs', ['--rpc', chain.url, '--key', KEY0, '--artifacts', artifacts(), '--out', js, ...opts]);
  assert.equal(r1.status, 0, r1.stderr);
  const keyFile = join(tmp.path, 'deployer.key');
  writeFileSync(keyFile, `${KEY0}\n`, { mode: 0o600 });
  const r2 = spawnSync(BIN, ['chain', 'deploy', '--chain-rpc', chain.url, '--key-file', keyFile,
    '--data-dir', join(tmp.path, 'c'), '--artifacts', artifacts(), ...opts], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r2.status, 0, r2.stderr);
  const a = JSON.parse(readFileSync(js, 'utf8'));
  const b = JSON.parse(readFileSync(join(tmp.path, 'c', 'chain.json'), 'utf8'));
  assert.deepEqual(Object.keys(b), Object.keys(a), 'same top-level keys, same order');
  assert.equal(b.chainId, a.chainId);
  assert.equal(b.deployer, a.deployer);
  assert.deepEqual(b.params, a.params);
  assert.deepEqual(Object.keys(b.contracts), Object.keys(a.contracts));
  assert.ok(b.block > a.block, 'deployed after the JS set');
  for (const [name, c] of Object.entries(b.contracts)) {
    assert.deepEqual(Object.keys(c), Object.keys(a.contracts[name]), `${name} entry keys`);
    assert.equal(c.abi, `abi/${name}.json`);
    assert.match(c.txHash, /^0x[0-9a-f]{64}$/);
    assert.notEqual(c.address, a.contracts[name].address);
    const rc = await chain.provider.getTransactionReceipt(c.txHash);
    assert.equal(rc.contractAddress, c.address, `${name} address from its receipt`);
    assert.equal(rc.blockNumber, c.block);
    assert.deepEqual(JSON.parse(readFileSync(join(tmp.path, 'c', c.abi), 'utf8')), artifact(name).abi);
    // the same creation code ran: the runtime code is the same except for the immutables
    // (addresses of this deployment), so compare lengths
    const [ca, cb] = [await chain.provider.getCode(a.contracts[name].address), await chain.provider.getCode(c.address)];
    assert.equal(cb.length, ca.length, `${name} runtime code size`);
  }
  const swap = (v) => (v === a.contracts.ArbitrationPanel.address ? b.contracts.ArbitrationPanel.address : v);
  for (const role of Object.keys(a.roles)) assert.equal(b.roles[role], swap(a.roles[role]), role);

  // the C-deployed set trades: list, faucet, approve, buy, licence
  const seller = devWallet(chain.provider, 1);
  const buyer = devWallet(chain.provider, 2);
  const at = (name, w) => new Contract(b.contracts[name].address, artifact(name).abi, w);
  const id = await newModel(at('ModelRegistry', seller), seller, 'c/deployed');
  await mined(at('Marketplace', seller).setPrice(id, parseEther('10')));
  await mined(at('AgoraToken', buyer).faucet(buyer.address));
  await mined(at('AgoraToken', buyer).approve(b.contracts.Marketplace.address, parseEther('10')));
  const rc = await mined(at('Marketplace', buyer).buy(id, parseEther('10')));
  const [ev] = eventsOf(at('Marketplace', buyer), rc, 'LicensePurchased');
  assert.equal(ev.args.fee, parseEther('0.3'), '3% fee as deployed');
  assert.equal(await at('Marketplace', buyer).hasLicense(id, buyer.address), true);
  assert.equal(await at('AgoraToken', buyer).totalSupply(), parseEther('42.5') + parseEther('1000'));
});

test('agora chain deploy: keystore, AGORA_DEPLOYER_KEY, the unlocked account, --json, refusals', { skip: !BIN && 'AGORA_BIN not set' }, async () => {
  const agora = (args, env = {}) => spawnSync(BIN, ['chain', 'deploy', '--chain-rpc', chain.url, '--artifacts', artifacts(), ...args], {
    encoding: 'utf8', timeout: 300_000, env: { ...process.env, AGORA_DEPLOYER_KEY: '', AGORA_PASSPHRASE: '', ...env },
  });
  const manifest = (dir) => JSON.parse(readFileSync(join(dir, 'chain.json'), 'utf8'));
  // a keystore written by ethers, opened by the C deployer; dev account 3 deploys
  const w3 = devWallet(chain.provider, 3);
  const ks = join(tmp.path, 'deployer.json');
  writeFileSync(ks, await encryptKeystoreJson({ address: w3.address, privateKey: w3.privateKey }, 'correct horse', { scrypt: { N: 1 << 12 } }));
  const pass = join(tmp.path, 'pass');
  writeFileSync(pass, 'correct horse\n');
  let r = agora(['--data-dir', join(tmp.path, 'ks'), '--keystore', ks, '--passphrase-file', pass]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`deployed to chain ${DEV_CHAIN_ID}; manifest written to`));
  assert.equal(manifest(join(tmp.path, 'ks')).deployer, w3.address);
  r = agora(['--data-dir', join(tmp.path, 'ks2'), '--keystore', ks], { AGORA_PASSPHRASE: 'wrong' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /deployer\.json/);
  assert.equal(existsSync(join(tmp.path, 'ks2', 'chain.json')), false);
  // AGORA_DEPLOYER_KEY: dev account 4
  const w4 = devWallet(chain.provider, 4);
  r = agora(['--data-dir', join(tmp.path, 'env'), '--json'], { AGORA_DEPLOYER_KEY: w4.privateKey });
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.deepEqual(printed, manifest(join(tmp.path, 'env')), '--json prints the manifest written');
  assert.equal(printed.deployer, w4.address);
  // no key at all: the dev chain's first unlocked account
  r = agora(['--data-dir', join(tmp.path, 'unlocked'), '--faucet', 'off', '--governance', w4.address]);
  assert.equal(r.status, 0, r.stderr);
  const u = manifest(join(tmp.path, 'unlocked'));
  assert.equal(u.deployer, devWallet(chain.provider, 0).address);
  assert.equal(u.params.faucet, false);
  assert.equal(u.roles.pendingGovernance, w4.address);
  assert.match(r.stderr, /Marketplace\.transferGovernance done/);
  // refusals
  r = agora(['--data-dir', join(tmp.path, 'unlocked')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already deployed/);
  r = agora(['--data-dir', join(tmp.path, 'bad'), '--key-file', ks, '--keystore', ks]);
  assert.equal(r.status, 2);
  r = agora(['--data-dir', join(tmp.path, 'bad'), '--faucet', 'sometimes']);
  assert.equal(r.status, 2);
  r = agora(['--data-dir', join(tmp.path, 'bad'), '--fee-bps', '1001']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /MAX_FEE_BPS \(1000\)/);
  r = agora(['--data-dir', join(tmp.path, 'bad'), '--fee-bps', 'x']);
  assert.equal(r.status, 2);
  r = agora(['--data-dir', join(tmp.path, 'bad'), '--treasury', '0x0000000000000000000000000000000000000000']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Marketplace: deployment reverted: ZeroAddress\(\)/);
  assert.equal(existsSync(join(tmp.path, 'bad', 'chain.json')), false, 'no manifest after a failure');
});
