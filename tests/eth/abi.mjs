// abi.mjs - our ABI encoder equals ethers' AbiCoder on random types and values,
// our decoder reads ethers' encodings back to the same values, and selectors agree.
import { AbiCoder, getAddress, FunctionFragment, id } from 'ethers';
import { tool, check, done, rng, seed, hex } from './lib.mjs';

const R = rng(seed());
const coder = AbiCoder.defaultAbiCoder();
const pick = (a) => a[R.int(a.length)];

function randType(depth) {
  const r = R.int(depth > 2 ? 7 : 11);
  switch (r) {
    case 0: return { t: `uint${8 * (1 + R.int(32))}` };
    case 1: return { t: `int${8 * (1 + R.int(32))}` };
    case 2: return { t: 'address' };
    case 3: return { t: 'bool' };
    case 4: return { t: `bytes${1 + R.int(32)}` };
    case 5: return { t: 'bytes' };
    case 6: return { t: 'string' };
    case 7: case 8: {
      const elem = randType(depth + 1);
      return R.int(2) ? { t: `${elem.t}[]`, elem, dyn: true } : { t: `${elem.t}[${1 + R.int(3)}]`, elem, k: true };
    }
    default: {
      const fields = [];
      for (let n = 1 + R.int(4); n > 0; n--) fields.push(randType(depth + 1));
      return { t: `(${fields.map((f) => f.t).join(',')})`, fields };
    }
  }
}

const STR = ['', 'a', 'hello world', 'héllo wörld ✓', '日本語のテキスト', '🦄🚀', 'x'.repeat(33), 'y'.repeat(64)];

// randValue() returns [ethersValue, ourJsonValue, canonicalDecodedValue].
function randValue(T) {
  const t = T.t;
  let m;
  if (T.fields) {
    const vs = T.fields.map(randValue);
    return [vs.map((v) => v[0]), vs.map((v) => v[1]), vs.map((v) => v[2])];
  }
  if (T.elem) {
    const n = T.dyn ? R.int(4) : Number(t.match(/\[(\d+)\]$/)[1]);
    const vs = [];
    for (let i = 0; i < n; i++) vs.push(randValue(T.elem));
    return [vs.map((v) => v[0]), vs.map((v) => v[1]), vs.map((v) => v[2])];
  }
  if ((m = t.match(/^(u?)int(\d+)$/))) {
    const bits = Number(m[2]);
    let v = R.big(pick([1, 7, 8, bits - 1, bits, R.int(bits) + 1].map((b) => Math.max(1, Math.min(b, bits)))));
    if (m[1] === '') {
      v = v & ((1n << BigInt(bits - 1)) - 1n);
      if (R.int(2)) v = -v - BigInt(R.int(2)); // reach the minimum too
      if (v < -(1n << BigInt(bits - 1))) v = -(1n << BigInt(bits - 1));
    }
    const form = R.int(3);
    const ours = form === 0 && v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v)
      : form === 1 && v >= 0n ? '0x' + v.toString(16) : v.toString();
    return [v, ours, v.toString()];
  }
  if (t === 'address') {
    const a = getAddress(hex(R.bytes(20)));
    return [a, R.int(2) ? a : a.toLowerCase(), a];
  }
  if (t === 'bool') { const b = R.int(2) === 1; return [b, b, b]; }
  if ((m = t.match(/^bytes(\d+)$/))) { const b = hex(R.bytes(Number(m[1]))); return [b, b, b]; }
  if (t === 'bytes') { const b = hex(R.bytes(pick([0, 1, 31, 32, 33, 64, 100]))); return [b, b, b]; }
  if (t === 'string') { const s = pick(STR); return [s, s, s]; }
  throw new Error('type ' + t);
}

const enc = [], expect = [], dec = [], canon = [];
for (let i = 0; i < 400; i++) {
  const T = randType(0);
  const [ev, ov, cv] = randValue(T);
  const data = coder.encode([T.t], [ev]);
  enc.push({ type: `(${T.t})`, value: [ov] });
  expect.push(data);
  dec.push({ type: `(${T.t})`, data });
  canon.push(JSON.stringify([cv]));
}
tool('abi-encode', enc).forEach((r, i) => {
  check(r === expect[i], `encode ${i} ${enc[i].type}: ${JSON.stringify(r).slice(0, 200)}\n ethers ${expect[i].slice(0, 200)}`);
});
tool('abi-decode', dec).forEach((r, i) => {
  check(JSON.stringify(r) === canon[i], `decode ${i} ${dec[i].type}: ${JSON.stringify(r).slice(0, 300)} != ${canon[i].slice(0, 300)}`);
});

// Function selectors of random signatures (names and spaces included).
const sigs = [];
for (let i = 0; i < 100; i++) {
  const args = [];
  for (let n = R.int(4); n > 0; n--) args.push(randType(1).t);
  sigs.push(`f${i}_x(${args.join(',')})`);
}
sigs.push('function transferFrom(address from, address to, uint256 amount) external returns (bool)');
const sels = tool('selector', sigs);
sigs.forEach((s, i) => {
  check(sels[i] === FunctionFragment.from(s).selector, `selector ${s}: ${sels[i]}`);
});
check(sels[0] === id(sigs[0]).slice(0, 10), 'selector equals keccak prefix');

// Truncated and corrupted encodings are refused, never crash.
const bad = expect.slice(0, 100).map((d, i) => ({ type: dec[i].type, data: d.slice(0, Math.max(2, d.length - 64 * (1 + (i % 3)))) }))
  .filter((c) => c.data.length < expect[0].length);
const badOut = tool('abi-decode', bad);
check(badOut.some((r) => r && r.error), 'no truncated encoding refused');
done('abi', enc.length + dec.length + sigs.length);
