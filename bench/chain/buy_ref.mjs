#!/usr/bin/env node
// buy_ref.mjs - the reference beside `agora buy` in bench/chain/unlock.py: ethers 6 buys a
// licence the same way (EIP-2612 permit + Marketplace.buyWithPermit, one transaction) and waits
// for the receipt. Prints {"ms": send-to-receipt, "block": N}.
//
// usage: node bench/chain/buy_ref.mjs RPC MANIFEST BUYER_KEY MODEL_ID
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Contract, JsonRpcProvider, Signature, Wallet } from 'ethers';

const [rpc, manifestPath, key, modelId] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
// ethers' default polling interval is 4 s; poll like the CLI does (every 200 ms)
const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, pollingInterval: 200 });
const abi = (n) => JSON.parse(readFileSync(join(dirname(manifestPath), manifest.contracts[n].abi), 'utf8'));
const wallet = new Wallet(key, provider);
const token = new Contract(manifest.contracts.AgoraToken.address, abi('AgoraToken'), wallet);
const market = new Contract(manifest.contracts.Marketplace.address, abi('Marketplace'), wallet);

const t0 = performance.now();
const price = await market.priceOf(modelId);
const { chainId } = await provider.getNetwork();
const deadline = BigInt((await provider.getBlock('latest')).timestamp + 3600);
const nonce = await token.nonces(wallet.address);
const sig = Signature.from(await wallet.signTypedData(
  { name: 'Agora', version: '1', chainId, verifyingContract: manifest.contracts.AgoraToken.address },
  { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' },
    { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
  { owner: wallet.address, spender: manifest.contracts.Marketplace.address, value: price, nonce, deadline }));
const tx = await market.buyWithPermit(modelId, price, deadline, sig.v, sig.r, sig.s);
const rc = await tx.wait(1, 60000);
if (rc.status !== 1) throw new Error('buy failed');
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, block: rc.blockNumber }) + '\n');
process.exit(0);
