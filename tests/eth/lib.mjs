// lib.mjs - shared helpers for the eth interop tests: run eth_tool, random values, asserts.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const TOOL = process.env.ETH_TOOL;
if (!TOOL) {
  console.error('ETH_TOOL is not set (run through ctest)');
  process.exit(2);
}

// tool() runs `eth_tool op` on an array of cases and returns its result array.
export function tool(op, cases) {
  const r = spawnSync(TOOL, [op], { input: JSON.stringify(cases), maxBuffer: 256 << 20 });
  if (r.status !== 0) {
    throw new Error(`eth_tool ${op} exited ${r.status}: ${r.stderr}`);
  }
  const out = JSON.parse(r.stdout.toString());
  if (out.length !== cases.length) throw new Error(`eth_tool ${op}: ${out.length} results for ${cases.length} cases`);
  return out;
}

let failures = 0;
export function check(cond, what) {
  if (!cond) {
    failures++;
    console.error('FAIL:', what);
  }
}

export function done(name, count) {
  if (failures) {
    console.error(`${name}: ${failures} failure(s)`);
    process.exit(1);
  }
  console.log(`${name}: ${count} cases agree with ethers`);
}

// A small deterministic PRNG so failures can be reproduced (seed printed).
export function rng(seed) {
  let s = BigInt(seed) & 0xffffffffffffffffn;
  const next = () => {
    s ^= s << 13n; s &= 0xffffffffffffffffn;
    s ^= s >> 7n;
    s ^= s << 17n; s &= 0xffffffffffffffffn;
    return s;
  };
  return {
    int: (n) => Number(next() % BigInt(n)),
    big: (bits) => {
      let v = 0n;
      for (let i = 0; i < bits; i += 64) v = (v << 64n) | next();
      return v & ((1n << BigInt(bits)) - 1n);
    },
    bytes: (n) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = Number(next() & 0xffn);
      return b;
    },
  };
}

export function seed() {
  const s = process.env.ETH_SEED ? Number(process.env.ETH_SEED) : randomBytes(4).readUInt32LE(0) || 1;
  console.log(`seed ${s} (set ETH_SEED to reproduce)`);
  return s;
}

export const hex = (u8) => '0x' + Buffer.from(u8).toString('hex');
