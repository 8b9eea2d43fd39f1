#!/usr/bin/env node
// build.mjs - compiles contracts/*.sol with solc-js (standard JSON, pinned 0.8.28) into ABI + bytecode JSON files.
//
// usage: node contracts/build.mjs --out DIR [--force] [--quiet]
//
// Imports of "@openzeppelin/..." resolve from node_modules; nothing is fetched from the network.
// Writes DIR/<Contract>.json ({contractName, sourceName, abi, bytecode, deployedBytecode,
// compiler}) for every contract and interface in contracts/, and DIR/build-info.json holding a
// hash of all inputs; when that hash is unchanged the build is skipped (incremental).
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync, renameSync, statSync, rmSync } from 'node:fs';
import { join, dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const require = createRequire(join(root, 'package.json'));

const SOLC_VERSION = '0.8.28';
const OZ_VERSION = '5.3.0'; // see evmVersion below
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Shanghai: the newest hardfork Ganache 7.9 runs (it has no mcopy, tload/tstore or blob
  // opcodes). One target for every chain: anvil and post-Dencun chains run Shanghai bytecode
  // unchanged, so anvil and Ganache execute the same bytes. OpenZeppelin is pinned to 5.3.0, the
  // last 5.x release whose sources compile without Cancun's mcopy (5.4 uses it in Bytes.sol).
  evmVersion: 'shanghai',
  metadata: { bytecodeHash: 'ipfs' },
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers', 'devdoc', 'userdoc'] },
  },
};
const MAX_SOURCE_BYTES = 1 << 20; // our own sources; a larger .sol file is a mistake

function usage(msg) {
  if (msg) console.error(`build.mjs: ${msg}`);
  console.error('usage: node contracts/build.mjs --out DIR [--force] [--quiet]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { out: null, force: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') {
      if (i + 1 >= argv.length) usage('--out needs a directory');
      o.out = argv[++i];
    } else if (a.startsWith('--out=')) o.out = a.slice(6);
    else if (a === '--force') o.force = true;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!o.out) usage('--out is required');
  return o;
}

// Every .sol file under contracts/, as "contracts/<path>" source unit names.
function ourSources() {
  const out = {};
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.sol')) {
        if (statSync(p).size > MAX_SOURCE_BYTES) throw new Error(`${p} is larger than ${MAX_SOURCE_BYTES} bytes`);
        out[relative(root, p).split(sep).join('/')] = { content: readFileSync(p, 'utf8') };
      }
    }
  };
  walk(here);
  return out;
}

// solc import callback: "@openzeppelin/..." and other packages from node_modules, relative
// imports inside contracts/. Nothing outside those two trees is readable.
const loaded = new Map();
function findImports(path) {
  let file;
  if (path.startsWith('@openzeppelin/')) file = join(root, 'node_modules', path);
  else if (path.startsWith('contracts/')) file = join(root, path);
  else return { error: `import ${path}: only @openzeppelin/* and contracts/* are allowed` };
  const norm = resolve(file);
  if (!norm.startsWith(join(root, 'node_modules') + sep) && !norm.startsWith(here + sep)) {
    return { error: `import ${path} escapes the allowed directories` };
  }
  try {
    const content = readFileSync(norm, 'utf8');
    loaded.set(path, content);
    return { contents: content };
  } catch (e) {
    return { error: `import ${path}: ${e.code || e.message}` };
  }
}

function inputHash(sources, solcVersion, ozVersion) {
  const h = createHash('sha256');
  h.update(JSON.stringify({ solcVersion, ozVersion, SETTINGS }));
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  for (const name of Object.keys(sources).sort()) {
    h.update(name + '\0' + sources[name].content + '\0');
  }
  return h.digest('hex');
}

function writeAtomic(path, data) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = require('solc');
  const solcVersion = solc.version();
  if (!solcVersion.startsWith(SOLC_VERSION + '+')) {
    console.error(`build.mjs: solc ${solcVersion} found, ${SOLC_VERSION} required (npm ci)`);
    process.exit(1);
  }
  const ozVersion = JSON.parse(readFileSync(join(root, 'node_modules/@openzeppelin/contracts/package.json'), 'utf8')).version;
  if (ozVersion !== OZ_VERSION) {
    console.error(`build.mjs: @openzeppelin/contracts ${ozVersion} found, ${OZ_VERSION} required (npm ci)`);
    process.exit(1);
  }
  const sources = ourSources();
  if (Object.keys(sources).length === 0) {
    console.error('build.mjs: no .sol files under contracts/');
    process.exit(1);
  }
  const hash = inputHash(sources, solcVersion, ozVersion);
  const out = resolve(opts.out);
  const infoPath = join(out, 'build-info.json');
  if (!opts.force && existsSync(infoPath)) {
    try {
      const info = JSON.parse(readFileSync(infoPath, 'utf8'));
      if (info.inputHash === hash && info.contracts.every((c) => existsSync(join(out, `${c}.json`)))) {
        if (!opts.quiet) console.log(`contracts: up to date (${info.contracts.length} artifacts in ${out})`);
        return;
      }
    } catch { /* unreadable build-info: rebuild */ }
  }

  const t0 = Date.now();
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const diags = output.errors || [];
  for (const d of diags) {
    if (d.severity === 'error' || !opts.quiet) console.error(d.formattedMessage || d.message);
  }
  if (diags.some((d) => d.severity === 'error')) {
    console.error('build.mjs: compilation failed');
    process.exit(1);
  }
  const warnings = diags.filter((d) => d.severity === 'warning' && !d.sourceLocation?.file?.startsWith('@openzeppelin/'));
  if (warnings.length) {
    console.error(`build.mjs: ${warnings.length} warning(s) in our sources; warnings are errors`);
    process.exit(1);
  }

  mkdirSync(out, { recursive: true });
  const names = [];
  for (const sourceName of Object.keys(sources)) {
    for (const [name, c] of Object.entries(output.contracts[sourceName] || {})) {
      if (names.includes(name)) {
        console.error(`build.mjs: two contracts named ${name}; artifact names must be unique`);
        process.exit(1);
      }
      names.push(name);
      const artifact = {
        contractName: name,
        sourceName,
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
        methodIdentifiers: c.evm.methodIdentifiers,
        devdoc: c.devdoc,
        userdoc: c.userdoc,
        compiler: { name: 'solc', version: solcVersion, settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
      };
      writeAtomic(join(out, `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
    }
  }
  names.sort();
  // drop artifacts of contracts that no longer exist (listed by the previous build)
  try {
    const prev = JSON.parse(readFileSync(infoPath, 'utf8'));
    for (const c of prev.contracts || []) {
      if (!names.includes(c) && /^[A-Za-z0-9_]+$/.test(c)) rmSync(join(out, `${c}.json`), { force: true });
    }
  } catch { /* no previous build */ }
  writeAtomic(infoPath, JSON.stringify({
    inputHash: hash,
    solcVersion,
    openzeppelin: ozVersion,
    sources: Object.keys(sources),
    contracts: names,
  }, null, 2) + '\n');
  if (!opts.quiet) console.log(`contracts: compiled ${names.length} artifacts in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${out}`);
}

try {
  main();
} catch (e) {
  console.error(`build.mjs: ${e.message}`);
  process.exit(1);
}
