// anvil.mjs - the C stack against a real anvil: transfers, nonces, deployment, calls, events,
// revert reasons; every on-chain effect cross-checked through ethers' JSON-RPC provider.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { JsonRpcProvider, Contract, parseEther } from 'ethers';
import { TOOL, check, done } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const src = process.env.AGORA_SRC || join(here, '..', '..');
const require = createRequire(join(src, 'package.json'));
const solc = require('solc');
const ANVIL = join(src, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');

const freePort = () => new Promise((res, rej) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  s.on('error', rej);
});

// waitFor() polls until the node answers eth_chainId.
async function waitFor(u) {
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(u, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) });
      if (r.ok) return;
    } catch (e) {
      if (i > 200) throw new Error('anvil did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// compile Box.sol with solc-js standard JSON (no network)
const out = JSON.parse(solc.compile(JSON.stringify({
  language: 'Solidity',
  sources: { 'Box.sol': { content: readFileSync(join(here, 'Box.sol'), 'utf8') } },
  settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
})));
const errs = (out.errors || []).filter((e) => e.severity === 'error');
if (errs.length) { console.error(errs); process.exit(1); }
const box = out.contracts['Box.sol'].Box;
const dir = mkdtempSync(join(tmpdir(), 'agora-anvil-'));
writeFileSync(join(dir, 'box.hex'), '0x' + box.evm.bytecode.object);

const port = await freePort();
const anvil = spawn(ANVIL, ['--port', String(port), '--silent'], { stdio: 'ignore' });
const url = `http://127.0.0.1:${port}`;
let code = 1;
try {
  await waitFor(url);
  // no response cache: the C side changes the chain while this process blocks
  const provider = new JsonRpcProvider(url, 31337, { staticNetwork: true, cacheTimeout: -1 });
  const dev1 = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  const before = await provider.getBalance(dev1);
  const r = spawnSync(TOOL, ['anvil', url, join(dir, 'box.hex')], { encoding: 'utf8', timeout: 300000 });
  if (r.status !== 0) {
    console.error(r.stdout, r.stderr);
    throw new Error(`eth_tool anvil exited ${r.status}`);
  }
  const s = JSON.parse(r.stdout);
  console.log(s);
  // the transfer as ethers sees it: sent by dev0 as type 2, 1.5 ETH + 5 x 1000 wei to dev1
  const tx = await provider.getTransaction(s.transferHash);
  check(tx.from === s.from && tx.type === 2 && tx.to === dev1 && tx.value === parseEther('1.5'), 'transfer as seen by ethers');
  const after = await provider.getBalance(dev1);
  check(after - before === parseEther('1.5') + 4000n, `dev1 balance moved by ${after - before}`);
  check(BigInt(s.dev1Balance) === before + parseEther('1.5'), 'C saw the same balance');
  check(await provider.getTransactionCount(s.from) === 7, 'dev0 nonce after 6 txs and 1 deployment');
  // the contract state through ethers
  const c = new Contract(s.box, box.abi, provider);
  const [v, note] = await c.get();
  check(v === 42n && note === 'hello, chain', `Box state ${v} ${note}`);
  let reason = '';
  try { await c.set.staticCall(5000, 'x'); } catch (e) { reason = e.reason; }
  check(reason === s.revertError, `ethers reason '${reason}' vs ours '${s.revertError}'`);

  // a pre-London chain: the wallet falls back to a legacy EIP-155 transaction
  const port2 = await freePort();
  const berlin = spawn(ANVIL, ['--port', String(port2), '--silent', '--hardfork', 'berlin'], { stdio: 'ignore' });
  try {
    const url2 = `http://127.0.0.1:${port2}`;
    await waitFor(url2);
    const r2 = spawnSync(TOOL, ['anvil-legacy', url2], { encoding: 'utf8', timeout: 120000 });
    if (r2.status !== 0) throw new Error(`eth_tool anvil-legacy exited ${r2.status}: ${r2.stderr}`);
    const p2 = new JsonRpcProvider(url2, 31337, { staticNetwork: true, cacheTimeout: -1 });
    const ltx = await p2.getTransaction(JSON.parse(r2.stdout).hash);
    check(ltx.type === 0 && ltx.chainId === 31337n && ltx.value === 777n && ltx.from === s.from,
      `legacy transaction as seen by ethers: type ${ltx.type} chain ${ltx.chainId}`);
    p2.destroy();
  } finally {
    berlin.kill('SIGTERM');
  }
  provider.destroy();
  code = 0;
} catch (e) {
  console.error(e);
} finally {
  anvil.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
if (code) process.exit(code);
done('anvil', 1);
