// eip712.mjs - our EIP-712 digests equal ethers' TypedDataEncoder.hash on fixed and random documents.
import { TypedDataEncoder, getAddress } from 'ethers';
import { tool, check, done, rng, seed, hex } from './lib.mjs';

const R = rng(seed());
const pick = (a) => a[R.int(a.length)];
const docs = [];

docs.push({
  types: {
    Person: [{ name: 'name', type: 'string' }, { name: 'wallet', type: 'address' }],
    Mail: [{ name: 'from', type: 'Person' }, { name: 'to', type: 'Person' }, { name: 'contents', type: 'string' }],
  },
  primaryType: 'Mail',
  domain: { name: 'Ether Mail', version: '1', chainId: 1, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
});
// EIP-2612 permit, as the AgoraToken will take it
docs.push({
  types: { Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' },
    { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
  primaryType: 'Permit',
  domain: { name: 'AgoraToken', version: '1', chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' },
  message: { owner: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', spender: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    value: '1000000000000000000000', nonce: 0, deadline: '115792089237316195423570985008687907853269984665640564039457584007913129639935' },
});
// arrays of structs, nested arrays, bytes, fixed arrays, signed integers, a salt
docs.push({
  types: {
    Quote: [{ name: 'modelId', type: 'uint256' }, { name: 'buyer', type: 'address' }, { name: 'price', type: 'uint128' },
      { name: 'parents', type: 'Parent[]' }, { name: 'tags', type: 'string[]' }, { name: 'grid', type: 'int8[2][]' },
      { name: 'blob', type: 'bytes' }, { name: 'digest', type: 'bytes32' }, { name: 'ok', type: 'bool' }],
    Parent: [{ name: 'id', type: 'uint256' }, { name: 'share', type: 'uint16' }, { name: 'meta', type: 'Meta' }],
    Meta: [{ name: 'cid', type: 'string' }, { name: 'flags', type: 'bytes4[3]' }],
  },
  primaryType: 'Quote',
  domain: { name: 'Agora Marketplace', version: '2', chainId: 1337, verifyingContract: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0',
    salt: '0x' + 'ab'.repeat(32) },
  message: {
    modelId: 7, buyer: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', price: '0xde0b6b3a7640000',
    parents: [{ id: 1, share: 250, meta: { cid: 'bafy…', flags: ['0x01020304', '0x00000000', '0xffffffff'] } },
      { id: 2, share: 0, meta: { cid: '', flags: ['0xdeadbeef', '0x00000001', '0x10000000'] } }],
    tags: ['vision', 'ünïcode', ''], grid: [[-128, 127], [0, -1]], blob: '0x', digest: '0x' + '00'.repeat(31) + '01', ok: true,
  },
});
// a domain with only some members
docs.push({ types: { Ping: [{ name: 'n', type: 'uint8' }] }, primaryType: 'Ping', domain: { chainId: 5 }, message: { n: 255 } });
docs.push({ types: { Ping: [{ name: 'n', type: 'int256' }] }, primaryType: 'Ping', domain: { name: 'x' }, message: { n: '-57896044618658097711785492504343953926634992332820282019728792003956564819968' } });

// random documents: a chain of struct types S0 -> S1 -> ... with random fields
const ATOMS = ['uint256', 'uint8', 'int64', 'address', 'bool', 'bytes32', 'bytes1', 'bytes', 'string'];
function atomValue(t) {
  if (t.startsWith('uint')) { const b = Number(t.slice(4)); return R.big(b).toString(); }
  if (t.startsWith('int')) { const b = Number(t.slice(3)); const v = R.big(b - 1); return (R.int(2) ? -v : v).toString(); }
  if (t === 'address') return getAddress(hex(R.bytes(20)));
  if (t === 'bool') return R.int(2) === 1;
  if (t === 'bytes') return hex(R.bytes(R.int(70)));
  if (t.startsWith('bytes')) return hex(R.bytes(Number(t.slice(5))));
  return pick(['', 'agora', 'model ✓', 'x'.repeat(40)]);
}
function valueOf(t, types) {
  let m;
  if ((m = t.match(/^(.*)\[(\d*)\]$/))) {
    const n = m[2] === '' ? R.int(4) : Number(m[2]);
    return Array.from({ length: n }, () => valueOf(m[1], types));
  }
  if (types[t]) return Object.fromEntries(types[t].map((f) => [f.name, valueOf(f.type, types)]));
  return atomValue(t);
}
for (let d = 0; d < 60; d++) {
  const n = 1 + R.int(4);
  const types = {};
  for (let i = n - 1; i >= 0; i--) {
    const fields = [];
    for (let k = 1 + R.int(5); k > 0; k--) {
      let t = pick(ATOMS);
      if (i + 1 < n && R.int(3) === 0) t = `S${i + 1 + R.int(n - i - 1)}`;
      if (R.int(4) === 0) t += pick(['[]', '[2]']);
      fields.push({ name: `f${fields.length}`, type: t });
    }
    // every later struct must be reachable: reference S(i+1) at least once
    if (i + 1 < n) fields.push({ name: 'next', type: `S${i + 1}` });
    types[`S${i}`] = fields;
  }
  docs.push({ types, primaryType: 'S0', domain: { name: 'Rand', version: String(d), chainId: 1 + R.int(100000),
    verifyingContract: getAddress(hex(R.bytes(20))) }, message: valueOf('S0', types) });
}

const ours = tool('eip712', docs);
docs.forEach((doc, i) => {
  const want = TypedDataEncoder.hash(doc.domain, doc.types, doc.message);
  check(ours[i] === want, `doc ${i}: ours ${JSON.stringify(ours[i])} ethers ${want}`);
});
check(ours[0] === '0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2', 'Mail digest from the EIP');
// broken documents give errors
const bad = tool('eip712', [{ types: {}, primaryType: 'X', domain: {}, message: {} },
  { ...docs[1], message: { ...docs[1].message, value: 'lots' } },
  { ...docs[0], message: { ...docs[0].message, from: 'not an object' } }]);
bad.forEach((r, i) => check(r && r.error, `bad doc ${i} accepted`));
done('eip712', docs.length);
