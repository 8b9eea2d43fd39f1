// ort_run.js - runs an ONNX model with onnxruntime-node, the reference peer for our engine.
//
// usage: node ort_run.js MODEL.onnx --output-dir DIR [--threads N] [--bench ITERS]
//                        NAME=FILE.npy ...
// Writes DIR/<output name>.npy (names sanitized as `agora onnx run` does).
// With --bench, runs ITERS timed iterations after warm-up and prints
// "ort_ms <median milliseconds>" instead of writing outputs.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../../node_modules/onnxruntime-node'));

const DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array], '|u1': ['uint8', Uint8Array],
  '|i1': ['int8', Int8Array], '|b1': ['bool', Uint8Array], '<u8': ['uint64', BigUint64Array],
};

function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not .npy`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const hdr = b.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(hdr)[1];
  if (/'fortran_order':\s*True/.test(hdr)) throw new Error('fortran order');
  const shape = /'shape':\s*\(([^)]*)\)/.exec(hdr)[1].split(',').map((s) => s.trim())
    .filter((s) => s.length).map(Number);
  const [type, Ctor] = DTYPES[descr] || [];
  if (!type) throw new Error(`${file}: dtype ${descr} unsupported`);
  const data = b.subarray(off + hlen);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  const arr = new Ctor(copy.buffer, 0, copy.length / Ctor.BYTES_PER_ELEMENT);
  return new ort.Tensor(type, type === 'bool' ? Uint8Array.from(arr) : arr, shape);
}

function writeNpy(file, t) {
  const map = { float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', uint8: '|u1',
    int8: '|i1', bool: '|b1', uint64: '<u8' };
  const descr = map[t.type];
  if (!descr) throw new Error(`cannot write ${t.type}`);
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let hdr = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + hdr.length + 1) % 64);
  hdr += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from([0x93]).copy(pre, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(hdr.length, 8);
  const d = t.data;
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(hdr, 'latin1'),
    Buffer.from(d.buffer, d.byteOffset, d.byteLength)]));
}

async function main() {
  const args = process.argv.slice(2);
  let model = null, outdir = null, threads = 1, bench = 0;
  const feeds = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--output-dir') outdir = args[++i];
    else if (a === '--threads') threads = Number(args[++i]);
    else if (a === '--bench') bench = Number(args[++i]);
    else if (a.includes('=')) { const k = a.indexOf('='); feeds[a.slice(0, k)] = readNpy(a.slice(k + 1)); }
    else model = a;
  }
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  if (bench > 0) {
    for (let i = 0; i < 3; i++) await sess.run(feeds);
    const times = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < bench; i++) {
      const t0 = process.hrtime.bigint();
      await sess.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const cpu = process.cpuUsage(cpu0);
    times.sort((x, y) => x - y);
    console.log(`ort_ms ${times[Math.floor(times.length / 2)].toFixed(4)}`);
    console.log(`ort_cpu_ms ${((cpu.user + cpu.system) / 1000 / bench).toFixed(4)}`);
    return;
  }
  const out = await sess.run(feeds);
  fs.mkdirSync(outdir, { recursive: true });
  for (const name of sess.outputNames) {
    writeNpy(path.join(outdir, name.replace(/[^A-Za-z0-9_.-]/g, '_') + '.npy'), out[name]);
  }
}

main().catch((e) => { console.error(`ort_run: ${e.message}`); process.exit(1); });
