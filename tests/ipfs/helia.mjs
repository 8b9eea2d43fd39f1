// helia.mjs - a real IPFS client (@helia/verified-fetch) fetches model files from our trustless gateway.
//
//   node helia.mjs AGORA_BINARY
// Starts `agora serve` on a free port with a fresh data directory, adds files
// of several shapes with `agora ipfs add` (multi-block and deeper DAGs through
// a small chunker, one single-block file, the empty file), then points
// verified-fetch at the node as its only trustless gateway (no libp2p, no
// delegated routers, no network) and checks every byte it returns, whole and
// by Range. verified-fetch verifies each block against its CID itself, so
// the test also proves the gateway serves blocks a strict client accepts.
//
// The Helia node is built the way @helia/http builds one: the Helia class of
// @helia/utils with in-memory stores, the trustless-gateway block broker and
// an HTTP-gateway router naming our node, and no libp2p at all.
import { spawn, execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

// Debian's node 20 lacks Promise.withResolvers (node 22), which it-queue uses.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
const { createVerifiedFetch } = await import('@helia/verified-fetch')
const { Helia } = await import('@helia/utils')
const { trustlessGateway } = await import('@helia/block-brokers')
const { httpGatewayRouting } = await import('@helia/routers')
const { MemoryBlockstore } = await import('blockstore-core')
const { MemoryDatastore } = await import('datastore-core')
const { defaultLogger } = await import('@libp2p/logger')

async function heliaOver (gateway) {
  const helia = new Helia({
    blockstore: new MemoryBlockstore(),
    datastore: new MemoryDatastore(),
    logger: defaultLogger(),
    blockBrokers: [trustlessGateway({ allowInsecure: true, allowLocal: true })],
    routers: [httpGatewayRouting({ gateways: [gateway] })]
  })
  await helia.start()
  return helia
}

const bin = process.argv[2]
if (!bin) {
  console.error('usage: node helia.mjs AGORA_BINARY')
  process.exit(2)
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agora-helia-'))
const dataDir = path.join(dir, 'data')
let node = null
let failures = 0

function check (cond, what) {
  if (cond) {
    console.log('ok   ' + what)
  } else {
    console.log('FAIL ' + what)
    failures++
  }
}

function add (file, args = []) {
  return execFileSync(bin, ['ipfs', 'add', '--data-dir', dataDir, ...args, file],
    { encoding: 'utf8' }).trim()
}

function startNode () {
  return new Promise((resolve, reject) => {
    node = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir],
      { env: { ...process.env, AGORA_PWHASH: 'min', AGORA_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    const timer = setTimeout(() => reject(new Error('agora serve did not start')), 30000)
    node.stdout.on('data', (d) => {
      out += d
      const m = out.match(/serving on (http:\/\/\S+)/)
      if (m) {
        clearTimeout(timer)
        resolve(m[1].replace('0.0.0.0', '127.0.0.1'))
      }
    })
    node.on('exit', (code) => reject(new Error('agora serve exited with ' + code)))
  })
}

async function main () {
  fs.mkdirSync(dataDir)
  const files = [
    { name: 'model.onnx', size: 5 * 262144 + 12345, args: [] },          // 6 leaves, one root
    { name: 'deep.bin', size: 200 * 1024 + 17, args: ['--chunker', 'size-1024'] }, // 201 leaves: 2 levels
    { name: 'small.bin', size: 1000, args: [] },                          // a single raw block
    { name: 'empty.bin', size: 0, args: [] }
  ]
  for (const f of files) {
    f.path = path.join(dir, f.name)
    f.bytes = crypto.randomBytes(f.size)
    fs.writeFileSync(f.path, f.bytes)
    f.cid = add(f.path, f.args)
  }
  const url = await startNode()
  const vfetch = await createVerifiedFetch(await heliaOver(url))
  try {
    for (const f of files) {
      const res = await vfetch('ipfs://' + f.cid)
      const body = Buffer.from(await res.arrayBuffer())
      check(res.status === 200, `${f.name}: status ${res.status}`)
      check(body.length === f.size && body.equals(f.bytes),
        `${f.name}: ${body.length} bytes, identical: ${body.equals(f.bytes)} (${f.cid})`)
    }
    // Ranges, as a browser's <video> or a resumed download asks.
    const m = files[0]
    for (const [lo, hi] of [[0, 99], [262140, 262150], [m.size - 10, m.size - 1], [1000000, 1310000]]) {
      const res = await vfetch('ipfs://' + m.cid, { headers: { Range: `bytes=${lo}-${hi}` } })
      const body = Buffer.from(await res.arrayBuffer())
      check(res.status === 206 && body.equals(m.bytes.subarray(lo, hi + 1)),
        `${m.name}: Range ${lo}-${hi} -> ${res.status}, ${body.length} bytes`)
    }
    // A CID this node does not hold is a failure, not made-up bytes.
    const absent = add(path.join(dir, 'model.onnx'), ['--only-hash', '--chunker', 'size-4096'])
    const ctl = new AbortController()
    const t = setTimeout(() => ctl.abort(), 5000)
    let status = 0
    try {
      const res = await vfetch('ipfs://' + absent, { signal: ctl.signal })
      status = res.status
    } catch (e) {
      status = -1
    }
    clearTimeout(t)
    check(status !== 200, `absent CID is not served (status ${status})`)
  } finally {
    await vfetch.stop()
  }
}

main().then(() => {
  if (node) node.kill('SIGTERM')
  fs.rmSync(dir, { recursive: true, force: true })
  console.log(failures ? `${failures} check(s) failed` : 'all checks passed')
  process.exit(failures ? 1 : 0)
}, (err) => {
  if (node) node.kill('SIGTERM')
  console.error(err)
  process.exit(1)
})
