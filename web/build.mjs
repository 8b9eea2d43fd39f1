// build.mjs - bundles the web UI with esbuild into a directory the node
// serves: index.html, favicon.svg, app.js (the ES modules, minified, with a
// source map; what pages load on demand, such as the wallet code and ethers,
// goes to chunks/) and app.css (Bootstrap and ours).
//
// usage: node web/build.mjs [--out DIR] [--dev]
//   --out DIR  where to write (default: web/dist beside this script)
//   --dev      no minification
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let out = path.join(here, 'dist');
let dev = false;
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === '--out' && args[i + 1]) out = path.resolve(args[(i += 1)]);
  else if (args[i] === '--dev') dev = true;
  else {
    console.error(`usage: node build.mjs [--out DIR] [--dev] (unknown argument ${args[i]})`);
    process.exit(2);
  }
}

// The node's CSP allows no inline script or style: refuse to ship any.
async function checkHtml(file) {
  const html = await readFile(file, 'utf8');
  const problems = [];
  if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html)) problems.push('inline <script>');
  if (/<style[\s>]/i.test(html)) problems.push('<style> block');
  if (/\sstyle\s*=/i.test(html)) problems.push('style attribute');
  if (/\son[a-z]+\s*=/i.test(html)) problems.push('inline event handler');
  if (/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html)) problems.push('external asset');
  if (problems.length) throw new Error(`${file}: ${problems.join(', ')} (forbidden by the CSP)`);
}

async function main() {
  await checkHtml(path.join(here, 'index.html'));
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const common = {
    bundle: true,
    minify: !dev,
    sourcemap: true,
    logLevel: 'warning',
    nodePaths: [path.join(here, '..', 'node_modules')],
    absWorkingDir: here,
  };
  await Promise.all([
    // app.js, plus chunks/ for what pages import on demand (the wallet code
    // and ethers load only on the pages that use them).
    build({
      ...common, entryPoints: { app: path.join(here, 'src/main.js') }, outdir: out, splitting: true,
      chunkNames: 'chunks/[name]-[hash]', format: 'esm', target: ['es2020'],
    }),
    build({ ...common, entryPoints: [path.join(here, 'src/styles.css')], outfile: path.join(out, 'app.css'), loader: { '.woff2': 'file', '.woff': 'file' } }),
  ]);
  await copyFile(path.join(here, 'index.html'), path.join(out, 'index.html'));
  await copyFile(path.join(here, 'favicon.svg'), path.join(out, 'favicon.svg'));
}

main().catch((err) => {
  console.error(`web build failed: ${err.message}`);
  process.exit(1);
});
