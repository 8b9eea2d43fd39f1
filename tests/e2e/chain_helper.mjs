#!/usr/bin/env node
// chain_helper.mjs - the on-chain half of tests/e2e/test_chain.py, done with ethers 6 (the reference peer).
//
// usage: node tests/e2e/chain_helper.mjs RPC MANIFEST COMMAND 'JSON-ARGS'
//   register {key, slug}                       -> {modelId, block, txHash}
//   publish  {key, modelId, version, cid, sha256}
//   price    {key, modelId, price}
//   transfer {key, modelId, to}                (the model's ERC-721 to another address)
//   buy      {key, modelId}                    (faucet + approve + buy) -> {purchaseId, block, txHash}
//   dispute  {key, purchaseId, reason}         -> {disputeId}
//   rule     {key, disputeId, ruling}          (1 = refund, 2 = release)
//   siwe     {key, domain, uri, chainId, nonce, expiresIn?} -> {address, message, signature}
// Prints one JSON object; exits 1 with the error on failure.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Contract, JsonRpcProvider, NonceManager, Wallet, id } from 'ethers';

const [rpc, manifestPath, cmd, argText] = process.argv.slice(2);
const args = JSON.parse(argText || '{}');
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, polling: true, pollingInterval: 50 });

function contract(name, signer) {
  const c = manifest.contracts[name];
  const abi = typeof c.abi === 'string' ? JSON.parse(readFileSync(join(dirname(manifestPath), c.abi), 'utf8')) : c.abi;
  return new Contract(c.address, abi, signer);
}

async function mined(txp) {
  const tx = await txp;
  const rc = await tx.wait(1, 60000);
  if (rc.status !== 1) throw new Error(`transaction ${tx.hash} failed`);
  return rc;
}

function eventArg(c, rc, name, arg) {
  for (const log of rc.logs) {
    try {
      const p = c.interface.parseLog(log);
      if (p && p.name === name) return p.args[arg];
    } catch { /* another contract's log */ }
  }
  throw new Error(`no ${name} event`);
}

async function main() {
  const w = args.key ? new NonceManager(new Wallet(args.key, provider)) : null;
  if (w) w.address = await w.getAddress();
  const registry = contract('ModelRegistry', w);
  const market = contract('Marketplace', w);
  const token = contract('AgoraToken', w);
  switch (cmd) {
    case 'register': {
      const rc = await mined(registry.registerModel(id(args.slug), `agora:${args.slug}`));
      return { modelId: eventArg(registry, rc, 'ModelRegistered', 'modelId').toString(), block: rc.blockNumber, txHash: rc.hash };
    }
    case 'publish': {
      const rc = await mined(registry.publishVersion(args.modelId, args.version, args.cid, '0x' + args.sha256, [], [], id('meta')));
      return { block: rc.blockNumber, txHash: rc.hash };
    }
    case 'price': {
      const rc = await mined(market.setPrice(args.modelId, BigInt(args.price)));
      return { block: rc.blockNumber };
    }
    case 'transfer': {
      const rc = await mined(registry.transferFrom(w.address, args.to, args.modelId));
      return { block: rc.blockNumber };
    }
    case 'buy': {
      const price = await market.priceOf(args.modelId);
      if ((await token.balanceOf(w.address)) < price) await mined(token.faucet(w.address));
      await mined(token.approve(await market.getAddress(), price));
      const rc = await mined(market.buy(args.modelId, price));
      return { purchaseId: eventArg(market, rc, 'LicensePurchased', 'purchaseId').toString(), block: rc.blockNumber, txHash: rc.hash };
    }
    case 'dispute': {
      const rc = await mined(market.openDispute(args.purchaseId, args.reason || 'does not work'));
      return { disputeId: eventArg(market, rc, 'DisputeOpened', 'disputeId').toString() };
    }
    case 'rule': {
      const rc = await mined(market.rule(args.disputeId, args.ruling));
      return { block: rc.blockNumber };
    }
    case 'siwe': {
      const now = new Date();
      const lines = [
        `${args.domain} wants you to sign in with your Ethereum account:`,
        w.address, '', 'Sign in to Agora.', '',
        `URI: ${args.uri}`, 'Version: 1', `Chain ID: ${args.chainId}`, `Nonce: ${args.nonce}`,
        `Issued At: ${now.toISOString()}`,
      ];
      if (args.expiresIn !== undefined) lines.push(`Expiration Time: ${new Date(now.getTime() + args.expiresIn * 1000).toISOString()}`);
      const message = lines.join('\n');
      return { address: w.address, message, signature: await w.signer.signMessage(message) };
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main().then((r) => { process.stdout.write(JSON.stringify(r) + '\n'); process.exit(0); },
  (e) => { process.stderr.write(`chain_helper ${cmd}: ${e.shortMessage || e.message}\n`); process.exit(1); });
