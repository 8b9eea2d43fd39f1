#!/usr/bin/env node
// purchases.mjs - fills a local anvil with N licence purchases for bench/chain, and times the reference fetch.
//
//   node bench/chain/purchases.mjs fill RPC MANIFEST N      -> {"purchases": N, "head": H}
//   node bench/chain/purchases.mjs getlogs RPC MANIFEST     -> {"ms": T, "logs": L, "head": H}
//
// fill: the seller (anvil account 1) registers one model, publishes a version
// and prices it at 1 token wei; then N fresh buyers each get ETH
// (anvil_setBalance) and one token from the deployer, and buy with an
// EIP-2612 permit (buyWithPermit): 2 transactions per purchase, mined in
// blocks of up to 400 with automine off.
// getlogs: one plain eth_getLogs of the contracts' whole range with ethers,
// the reference the indexer's throughput is compared with.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Contract, JsonRpcProvider, NonceManager, Wallet, id, Signature, toBeHex } from 'ethers';

const [cmd, rpc, manifestPath, nText] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, batchMaxCount: 1 });
const DEPLOYER = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const SELLER = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

function contract(name, runner) {
  const c = manifest.contracts[name];
  const abi = typeof c.abi === 'string' ? JSON.parse(readFileSync(join(dirname(manifestPath), c.abi), 'utf8')) : c.abi;
  return new Contract(c.address, abi, runner);
}

async function mine() {
  await provider.send('evm_mine', []);
}

async function fill(n) {
  const seller = new NonceManager(new Wallet(SELLER, provider));
  const deployer = new Wallet(DEPLOYER, provider);
  const registry = contract('ModelRegistry', seller);
  const market = contract('Marketplace', seller);
  const token = contract('AgoraToken', deployer);
  const marketAddr = await market.getAddress();
  const chainId = (await provider.getNetwork()).chainId;
  await (await registry.registerModel(id('bench/model'), 'agora:bench/model')).wait();
  const modelId = await registry.modelIdBySlug(id('bench/model'));
  await (await registry.publishVersion(modelId, '1.0.0', 'bafkqaaa', id('x'), [], [], id('m'))).wait();
  await (await market.setPrice(modelId, 1n)).wait();
  await provider.send('evm_setAutomine', [false]);
  let dnonce = await provider.getTransactionCount(deployer.address, 'pending');
  const domain = { name: 'Agora', version: '1', chainId, verifyingContract: await token.getAddress() };
  const types = { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] };
  const deadline = 2n ** 255n;
  const BATCH = 400;
  for (let done = 0; done < n; done += BATCH) {
    const k = Math.min(BATCH, n - done);
    const buyers = Array.from({ length: k }, () => Wallet.createRandom().connect(provider));
    const sends = [];
    for (const b of buyers) {
      await provider.send('anvil_setBalance', [b.address, toBeHex(10n ** 18n)]);
      sends.push(token.transfer(b.address, 1n, { nonce: dnonce++, gasLimit: 80000 }));
    }
    await Promise.all(sends);
    await mine();
    const buys = [];
    for (const b of buyers) {
      const sig = Signature.from(await b.signTypedData(domain, types,
        { owner: b.address, spender: marketAddr, value: 1n, nonce: 0n, deadline }));
      buys.push(contract('Marketplace', b).buyWithPermit(modelId, 1n, deadline, sig.v, sig.r, sig.s,
        { nonce: 0, gasLimit: 400000 }));
    }
    await Promise.all(buys);
    await mine();
  }
  await provider.send('evm_setAutomine', [true]);
  return { purchases: n, head: await provider.getBlockNumber() };
}

async function getlogs() {
  const head = await provider.getBlockNumber();
  const address = ['AgoraToken', 'ModelRegistry', 'Marketplace'].map((c) => manifest.contracts[c].address);
  const t0 = performance.now();
  const logs = await provider.send('eth_getLogs', [{ fromBlock: toBeHex(manifest.block), toBlock: toBeHex(head), address }]);
  return { ms: performance.now() - t0, logs: logs.length, head };
}

const out = cmd === 'fill' ? await fill(Number(nText || 10000)) : await getlogs();
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
