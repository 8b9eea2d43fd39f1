// eth_bench.mjs - the same measurements as eth_bench.c, with ethers 6 in node.
import { keccak256, SigningKey, recoverAddress, Signature } from 'ethers';
import { randomBytes } from 'node:crypto';

const now = () => Number(process.hrtime.bigint()) / 1e9;
const big = new Uint8Array(16 << 20).map((_, i) => (i * 31) & 0xff);
let t0 = now(), reps = 0, dt;
do { keccak256(big); reps++; dt = now() - t0; } while (dt < 1.0);
const mbs = (reps * big.length) / (1 << 20) / dt;

const small = new Uint8Array(64 + 256);
let n = 0;
t0 = now();
do {
  for (let i = 0; i < 2000; i++) keccak256(small.subarray(i & 255, (i & 255) + 64));
  n += 2000; dt = now() - t0;
} while (dt < 1.0);
const k64 = n / dt;

const key = new SigningKey('0x' + randomBytes(32).toString('hex'));
const h = new Uint8Array(32);
let sig;
n = 0; t0 = now();
do {
  for (let i = 0; i < 50; i++) { h[0] = i; h[1] = n >> 8; sig = key.sign(h); }
  n += 50; dt = now() - t0;
} while (dt < 1.0);
const signs = n / dt;
n = 0; t0 = now();
do {
  for (let i = 0; i < 50; i++) recoverAddress(h, sig);
  n += 50; dt = now() - t0;
} while (dt < 1.0);
const recovers = n / dt;
console.log(JSON.stringify({ keccak_mb_s: +mbs.toFixed(1), keccak64_per_s: Math.round(k64), sign_per_s: Math.round(signs), recover_per_s: Math.round(recovers) }));
