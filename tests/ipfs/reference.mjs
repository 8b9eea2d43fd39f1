// reference.mjs - the JS reference importer (ipfs-unixfs-importer) with Kubo's defaults.
//
// As a module: refAdd(path, opts) -> { cid, blocks } where blocks is a Map of
// CID string -> bytes when opts.collect is set. As a script:
//   node reference.mjs FILE [--cid-version 0|1] [--raw-leaves=true|false]
//                           [--chunk-size N] [--buffer N]
// prints the root CID as `ipfs add -Q` would. Nothing is downloaded.
import fs from 'node:fs'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

export async function refAdd (path, opts = {}) {
  const cidVersion = opts.cidVersion ?? 1
  const rawLeaves = opts.rawLeaves ?? (cidVersion === 1)
  const blocks = new Map()
  const blockstore = {
    async put (cid, bytes) {
      if (opts.collect) blocks.set(cid.toString(), bytes)
      return cid
    },
    async get (cid) {
      const b = blocks.get(cid.toString())
      if (b == null) throw new Error('not found')
      return b
    },
    async has (cid) { return blocks.has(cid.toString()) }
  }
  const stream = fs.createReadStream(path, { highWaterMark: opts.buffer ?? 65536 })
  let root
  for await (const entry of importer([{ content: stream }], blockstore, {
    cidVersion,
    rawLeaves,
    leafType: 'file',
    chunker: fixedSize({ chunkSize: opts.chunkSize ?? 262144 }),
    layout: balanced({ maxChildrenPerNode: 174 }),
    reduceSingleLeafToSelf: true,
    wrapWithDirectory: false
  })) {
    root = entry.cid
  }
  return { cid: root, blocks }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const args = process.argv.slice(2)
  const opts = {}
  let file
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--cid-version') opts.cidVersion = Number(args[++i])
    else if (a.startsWith('--raw-leaves=')) opts.rawLeaves = a.slice(13) === 'true'
    else if (a === '--chunk-size') opts.chunkSize = Number(args[++i])
    else if (a === '--buffer') opts.buffer = Number(args[++i])
    else file = a
  }
  const { cid } = await refAdd(file, opts)
  console.log(cid.toString())
}
