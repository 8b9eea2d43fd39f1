// seeds.mjs - writes the seed corpora of fuzz_ipfs_parsers and
// fuzz_eth_parsers from the reference implementations (ipfs-unixfs-importer,
// @ipld/car, multiformats; ethers), so fuzzing starts from real encodings
// made by someone other than us. Run from the repository root:
//   node fuzz/seeds.mjs
// Files are named seed_*; inputs that crashed a driver (crash-*) are kept
// beside them and never overwritten.
import fs from 'node:fs';
import path from 'node:path';
import { importer } from 'ipfs-unixfs-importer';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { CarWriter } from '@ipld/car';
import { CID } from 'multiformats/cid';
import { base32 } from 'multiformats/bases/base32';
import { base36 } from 'multiformats/bases/base36';
import { base58btc } from 'multiformats/bases/base58';
import { base64, base64url } from 'multiformats/bases/base64';
import { base16 } from 'multiformats/bases/base16';
import { ethers } from 'ethers';

const root = path.join(path.dirname(new URL(import.meta.url).pathname), 'corpus');
function put(dir, name, bytes) {
  const d = path.join(root, dir);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'seed_' + name), bytes);
}

// bytesOf() flattens what a blockstore hands back (bytes, a list of chunks,
// or a stream of them, depending on its version).
async function bytesOf(v) {
  if (v instanceof Uint8Array) return v;
  if (v && typeof v.subarray === 'function') return v.subarray();
  const parts = [];
  for await (const c of v) parts.push(c instanceof Uint8Array ? c : c.subarray());
  return Buffer.concat(parts);
}

// ---- ipfs: CIDs in several bases, raw and dag-pb blocks, CARs -------------
async function ipfs() {
  const bs = new MemoryBlockstore();
  const data = new Uint8Array(5000).map((_, i) => (i * 31 + 7) & 255);
  const opts = { cidVersion: 1, rawLeaves: true, chunker: undefined };
  let rootCid;
  // A small chunk size gives a root with several links in a few bytes.
  const { fixedSize } = await import('ipfs-unixfs-importer/chunker');
  for await (const e of importer([{ path: 'f.bin', content: data }], bs,
    { ...opts, chunker: fixedSize({ chunkSize: 1024 }), wrapWithDirectory: true })) {
    rootCid = e.cid;
  }
  let n = 0;
  const blocks = [];
  for await (const pair of bs.getAll()) {
    const cid = pair.cid;
    const block = await bytesOf(pair.block ?? pair.bytes);
    blocks.push({ cid, block });
    put('ipfs_parsers', `block_${n++}`, block);
    put('ipfs_parsers', `cid_bytes_${n}`, cid.bytes);
  }
  const v0 = CID.createV0(blocks.find((b) => b.cid.code === 0x70)?.cid.multihash ??
    blocks[0].cid.multihash);
  put('ipfs_parsers', 'cid_v0_text', Buffer.from(v0.toString()));
  const bases = { base32, base36, base58btc, base64, base64url, base16 };
  for (const [name, b] of Object.entries(bases)) {
    put('ipfs_parsers', `cid_${name}`, Buffer.from(rootCid.toString(b)));
  }
  const { writer, out } = CarWriter.create([rootCid]);
  const chunks = [];
  const collect = (async () => { for await (const c of out) chunks.push(c); })();
  for (const { cid, block } of blocks) await writer.put({ cid, bytes: block });
  await writer.close();
  await collect;
  put('ipfs_parsers', 'car_v1', Buffer.concat(chunks));
}

// ---- eth: the first byte picks the parser (see fuzz_eth_parsers.c) ---------
async function eth() {
  const w = new ethers.Wallet('0x' + '11'.repeat(32));
  const tag = (k, bytes) => Buffer.concat([Buffer.from([k]), Buffer.from(bytes)]);
  const hex = (h) => ethers.getBytes(h);
  // RLP
  put('eth_parsers', 'rlp_list', tag(0, hex(ethers.encodeRlp(['0x01', ['0x', '0xdeadbeef'], '0x' + 'ab'.repeat(60)]))));
  // ABI decoding: the next byte picks the type in fuzz_eth.c's ABI_TYPES
  const coder = ethers.AbiCoder.defaultAbiCoder();
  put('eth_parsers', 'abi_0', tag(1, Buffer.concat([Buffer.from([0]), hex(coder.encode(['(uint256,bytes,string[])'], [[5n, '0x1234', ['a', 'bc']]]))])));
  put('eth_parsers', 'abi_1', tag(1, Buffer.concat([Buffer.from([1]), hex(coder.encode(['(bool,address)[]'], [[[true, w.address], [false, ethers.ZeroAddress]]]))])));
  put('eth_parsers', 'abi_2', tag(1, Buffer.concat([Buffer.from([2]), hex(coder.encode(['bytes'], ['0x' + '42'.repeat(40)]))])));
  // signed transactions: legacy and EIP-1559
  const legacy = await w.signTransaction({ type: 0, to: w.address, nonce: 3, gasLimit: 21000n, gasPrice: 10n ** 9n, value: 1n, chainId: 1 });
  const t1559 = await w.signTransaction({ type: 2, to: w.address, nonce: 4, gasLimit: 50000n, maxFeePerGas: 2n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n, data: '0xa9059cbb' + '00'.repeat(64), chainId: 31337 });
  put('eth_parsers', 'tx_legacy', tag(2, hex(legacy)));
  put('eth_parsers', 'tx_1559', tag(2, hex(t1559)));
  put('eth_parsers', 'abi_type', tag(3, Buffer.from('(uint256,(address,bytes32)[],string)')));
  put('eth_parsers', 'abi_func', tag(4, Buffer.from('transfer(address,uint256)')));
  const siwe = 'localhost:8080 wants you to sign in with your Ethereum account:\n' + w.address +
    '\n\nSign in to Agora\n\nURI: http://localhost:8080\nVersion: 1\nChain ID: 31337\n' +
    'Nonce: abcdef123456\nIssued At: 2026-11-25T10:00:00Z';
  put('eth_parsers', 'siwe', tag(5, Buffer.from(siwe)));
  const domain = { name: 'Agora', version: '1', chainId: 31337, verifyingContract: w.address };
  const types = { Permit: [{ name: 'owner', type: 'address' }, { name: 'value', type: 'uint256' }] };
  const typed = ethers.TypedDataEncoder.getPayload(domain, types, { owner: w.address, value: 5n });
  put('eth_parsers', 'eip712', tag(6, Buffer.from(JSON.stringify(typed, (k, v) => typeof v === 'bigint' ? v.toString() : v))));
  const ks = ethers.encryptKeystoreJsonSync({ address: w.address, privateKey: w.privateKey }, 'pw', { scrypt: { N: 16 } });
  put('eth_parsers', 'keystore_scrypt', tag(7, Buffer.from(ks)));
  const pbk = JSON.parse(ks);
  const cr = pbk.crypto ?? pbk.Crypto; // ethers writes "Crypto"
  pbk.crypto = cr;
  delete pbk.Crypto;
  cr.kdf = 'pbkdf2';
  cr.kdfparams = { c: 100000000, dklen: 32, prf: 'hmac-sha256', salt: cr.kdfparams.salt };
  put('eth_parsers', 'keystore_pbkdf2_costly', tag(8, Buffer.from(JSON.stringify(pbk))));
}

await ipfs();
await eth();
console.log('seeds written under', root);
