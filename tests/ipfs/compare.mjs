// compare.mjs - checks `agora ipfs` against the JS reference peers.
//
//   node compare.mjs SUITE AGORA_BIN   (runs `AGORA_BIN ipfs ...`)
// Suites: v1 (CIDv1 raw leaves), v0 (CIDv0 dag-pb leaves), deep (small
// chunkers: up to three levels of parents), options (mixed flags), car (our
// CARs read by @ipld/car, theirs imported by us, cat/verify, tampering),
// memory (peak RSS does not grow with the file size).
// Runs every case, then exits non-zero if any differed, keeping the files of failures.
import { execFileSync, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CarReader, CarWriter } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { refAdd } from './reference.mjs'

const [suite, bin] = process.argv.slice(2)
if (!suite || !bin) {
  console.error('usage: node compare.mjs SUITE AGORA_BIN')
  process.exit(2)
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `agora-ipfs-${suite}-`))
let failed = false
let checks = 0

// Deterministic pseudo-random bytes (xorshift32), so a failing case can be rebuilt.
function makeFile (size, seed) {
  const file = path.join(tmp, `f-${size}-${seed}.bin`)
  const out = fs.openSync(file, 'w')
  let x = (seed * 2654435761) >>> 0 || 1
  const chunk = Buffer.alloc(1 << 20)
  for (let done = 0; done < size;) {
    const n = Math.min(chunk.length, size - done)
    for (let i = 0; i < n; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
      chunk.writeUInt32LE(x, i)
    }
    fs.writeSync(out, chunk, 0, n)
    done += n
  }
  fs.closeSync(out)
  return file
}

function ours (args) {
  return execFileSync(bin, ['ipfs', ...args], { encoding: 'utf8', maxBuffer: 1 << 30 }).trim()
}

function check (name, got, want) {
  checks++
  if (got !== want) {
    console.error(`FAIL ${name}: agora ${got} != reference ${want}`)
    failed = true
  } else {
    console.log(`ok   ${name}: ${got}`)
  }
}

async function compare (size, { cidVersion, rawLeaves, chunkSize = 262144, seed = 1 }) {
  const file = makeFile(size, seed)
  const args = ['add', '--only-hash', '--cid-version', String(cidVersion)]
  if (rawLeaves !== undefined) args.push(`--raw-leaves=${rawLeaves}`)
  if (chunkSize !== 262144) args.push('--chunker', `size-${chunkSize}`)
  args.push(file)
  const got = ours(args)
  const { cid } = await refAdd(file, { cidVersion, rawLeaves, chunkSize })
  check(`size ${size} cidv${cidVersion} raw=${rawLeaves ?? 'default'} chunk ${chunkSize}`,
    got, cid.toString())
  if (!failed) fs.unlinkSync(file)
}

const C = 262144
const L = 174
const boundary = [0, 1, 2, 1000, C - 1, C, C + 1, 2 * C, 3 * C + 7,
  L * C - 1, L * C, L * C + 1, (L + 1) * C, 2 * L * C + 5]

async function suiteCar () {
  const dd = path.join(tmp, 'data')
  // 1. Our CAR read by @ipld/car: same root, every block hashes to its CID,
  //    the very blocks the reference importer makes.
  for (const [size, chunk] of [[3 * 1024 * 1024 + 17, 65536], [1000, 262144], [0, 262144]]) {
    const file = makeFile(size, 7)
    const cidStr = ours(['add', '--data-dir', dd, '--chunker', `size-${chunk}`, file])
    const carFile = path.join(tmp, `ours-${size}.car`)
    ours(['car', 'export', cidStr, '-o', carFile, '--data-dir', dd])
    const reader = await CarReader.fromBytes(fs.readFileSync(carFile))
    const roots = await reader.getRoots()
    check(`car root (${size} bytes)`, roots.map(String).join(','), cidStr)
    const ref = await refAdd(file, { chunkSize: chunk, collect: true })
    const seen = new Set()
    for await (const { cid, bytes } of reader.blocks()) {
      const digest = crypto.createHash('sha256').update(bytes).digest()
      checks++
      if (cid.multihash.code !== 0x12 || !digest.equals(Buffer.from(cid.multihash.digest))) {
        console.error(`FAIL car block ${cid} does not hash to its CID`)
        failed = true
      }
      if (seen.has(cid.toString())) {
        console.error(`FAIL car block ${cid} appears twice`)
        failed = true
      }
      seen.add(cid.toString())
    }
    check(`car blocks (${size} bytes)`, [...seen].sort().join(','), [...ref.blocks.keys()].sort().join(','))
    // cat and get give the bytes back.
    const bytes = fs.readFileSync(file)
    const cat = execFileSync(bin, ['ipfs', 'cat', cidStr, '--data-dir', dd], { maxBuffer: 1 << 30 })
    check(`cat (${size} bytes)`, String(Buffer.compare(cat, bytes) === 0), 'true')
  }
  // 2. A CAR written by @ipld/car imported by us, then read back by range.
  const file = makeFile(5 * 1024 * 1024 + 3, 9)
  const ref = await refAdd(file, { chunkSize: 100000, collect: true, cidVersion: 0 })
  const { writer, out } = CarWriter.create([ref.cid])
  const parts = []
  const drain = (async () => { for await (const p of out) parts.push(p) })()
  for (const [k, v] of ref.blocks) await writer.put({ cid: CID.parse(k), bytes: v })
  await writer.close()
  await drain
  const theirs = path.join(tmp, 'theirs.car')
  fs.writeFileSync(theirs, Buffer.concat(parts))
  const dd2 = path.join(tmp, 'data2')
  const imp = ours(['car', 'import', theirs, '--data-dir', dd2])
  check('car import roots', imp.split('\n')[0], `root ${ref.cid}`)
  const bytes = fs.readFileSync(file)
  const whole = execFileSync(bin, ['ipfs', 'cat', ref.cid.toString(), '--data-dir', dd2], { maxBuffer: 1 << 30 })
  check('cat imported file', String(Buffer.compare(whole, bytes) === 0), 'true')
  for (const [off, len] of [[0, 1], [99999, 2], [100000, 100000], [1234567, 3000000], [bytes.length - 1, 10], [bytes.length, 5]]) {
    const part = execFileSync(bin, ['ipfs', 'cat', ref.cid.toString(), '--offset', String(off), '--length', String(len), '--data-dir', dd2], { maxBuffer: 1 << 30 })
    check(`cat range ${off}+${len}`, String(Buffer.compare(part, bytes.subarray(off, off + len)) === 0), 'true')
  }
  const got = path.join(tmp, 'got.bin')
  ours(['get', ref.cid.toString(), '-o', got, '--data-dir', dd2])
  check('get imported file', String(Buffer.compare(fs.readFileSync(got), bytes) === 0), 'true')
  check('verify store', ours(['verify', '--data-dir', dd2]), `${ref.blocks.size} blocks ok, 0 bad`)
  // 3. A CAR with one flipped byte in a block is refused.
  const bad = Buffer.concat(parts)
  bad[bad.length - 10] ^= 0x01
  const badFile = path.join(tmp, 'bad.car')
  fs.writeFileSync(badFile, bad)
  const r = spawnSync(bin, ['ipfs', 'car', 'import', badFile, '--data-dir', path.join(tmp, 'data3')], { encoding: 'utf8' })
  check('tampered car refused', `${r.status} ${/does not hash/.test(r.stderr)}`, '1 true')
}

// Peak RSS (KiB) of one run of our binary (getrusage of the child, through
// Debian's python3). ASan's quarantine of freed memory is kept small so the
// figure is the program's own.
function peakRss (args) {
  const py = 'import resource, subprocess, sys\n' +
    'subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n' +
    'print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)'
  const r = spawnSync('/usr/bin/python3', ['-c', py, bin, 'ipfs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ASAN_OPTIONS: 'quarantine_size_mb=1:detect_leaks=0' }
  })
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`)
  return Number(r.stdout.trim())
}

async function suiteMemory () {
  // Streaming: memory must not grow with the file (1 MiB vs 128 MiB).
  const dd = path.join(tmp, 'data')
  const res = {}
  for (const mb of [1, 128]) {
    const file = makeFile(mb << 20, 11)
    const cid = ours(['add', '--only-hash', file])
    res[mb] = {
      hash: peakRss(['add', '--only-hash', file]),
      add: peakRss(['add', '--data-dir', dd, file]),
      cat: peakRss(['cat', cid, '--data-dir', dd, '--length', String(mb << 20)]),
      car: peakRss(['car', 'export', cid, '-o', path.join(tmp, `m${mb}.car`), '--data-dir', dd])
    }
    fs.unlinkSync(file)
  }
  for (const k of Object.keys(res[1])) {
    const growth = res[128][k] - res[1][k]
    checks++
    const line = `${k}: peak RSS ${res[1][k]} KiB for 1 MiB, ${res[128][k]} KiB for 128 MiB`
    if (growth > 16384) {
      console.error(`FAIL memory grows with the file: ${line}`)
      failed = true
    } else {
      console.log(`ok   ${line}`)
    }
  }
}

switch (suite) {
  case 'v1':
    for (const s of boundary) await compare(s, { cidVersion: 1 })
    break
  case 'v0':
    for (const s of boundary) await compare(s, { cidVersion: 0 })
    break
  case 'deep':
    // size-1024: 174*174 chunks fill two levels; one more needs a third.
    for (const s of [L * L * 1024 - 1, L * L * 1024, L * L * 1024 + 1, (L * L + L + 1) * 1024 + 3]) {
      await compare(s, { cidVersion: 1, chunkSize: 1024 })
    }
    await compare(L * L * 1024 + 1, { cidVersion: 0, chunkSize: 1024 })
    // size-1: a fourth level after 174^3 bytes would be slow; the third after 174^2.
    for (const s of [L * L, L * L + 1, L * L * 2 + 175]) {
      await compare(s, { cidVersion: 1, chunkSize: 1 })
      await compare(s, { cidVersion: 0, chunkSize: 1 })
    }
    break
  case 'options':
    for (const s of [0, 1, 5000, C, C + 1, 3 * C]) {
      await compare(s, { cidVersion: 1, rawLeaves: false })
      await compare(s, { cidVersion: 0, rawLeaves: true })
    }
    for (const chunk of [1000, 65536, 1048576]) {
      for (const s of [chunk - 1, chunk, chunk + 1, 3 * chunk + 11]) {
        await compare(s, { cidVersion: 1, chunkSize: chunk, seed: 3 })
        await compare(s, { cidVersion: 0, chunkSize: chunk, seed: 3 })
      }
    }
    break
  case 'car':
    await suiteCar()
    break
  case 'memory':
    await suiteMemory()
    break
  default:
    console.error(`unknown suite ${suite}`)
    process.exit(2)
}
if (!failed) fs.rmSync(tmp, { recursive: true, force: true })
else console.error(`files kept in ${tmp}`)
console.log(`${checks} checks, ${failed ? 'FAILED' : 'all passed'}`)
process.exit(failed || checks === 0 ? 1 : 0)
