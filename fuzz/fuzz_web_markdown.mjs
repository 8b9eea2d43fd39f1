// fuzz_web_markdown.mjs - a mutation fuzzer for the model-card renderer
// (web/src/markdown.js), run where it runs: in Debian's chromium, through
// playwright-core. libFuzzer cannot reach it (it is JavaScript in the
// browser), so this driver does the same job the C drivers do:
//
//   node fuzz/fuzz_web_markdown.mjs CORPUS_DIR [--runs N] [--seconds S] [--seed X]
//
// Every file of CORPUS_DIR is rendered once, then mutants of them (byte
// edits, dictionary tokens of Markdown, HTML and URL syntax, splices of two
// inputs) are rendered until N runs or S seconds have passed; the PRNG seed
// is printed so a run can be repeated. `make test` replays the corpus plus a
// fixed number of mutants from a fixed seed (CTest fuzz.web_markdown);
// `make fuzz` runs it for FUZZ_SECONDS from a random seed.
//
// Each rendering must keep the renderer's promise, checked on the live DOM:
// only Markdown's own elements, each with only its allowed attributes; no
// event handler or style attribute; links only to http(s) or mailto; images
// only as inline data: images; no script ran (a canary global stays unset);
// no exception; and renderMarkdown() returns within a time budget (a
// catastrophic regex or a quadratic blow-up is a finding too). An input that
// breaks one is written to CORPUS_DIR/crash-<sha1> (kept, like libFuzzer's
// artifacts) and the run fails.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, newPage } from '../tests/browser/lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');

const args = process.argv.slice(2);
const corpusDir = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (!corpusDir) {
  console.error('usage: fuzz_web_markdown.mjs CORPUS_DIR [--runs N] [--seconds S] [--seed X]');
  process.exit(2);
}
const RUNS = opt('--runs', Infinity);
const SECONDS = opt('--seconds', RUNS === Infinity ? 60 : Infinity);
const SEED = opt('--seed', Math.floor(Math.random() * 2 ** 31));
const BATCH = 64; // inputs per round trip into the page
const SLOW_MS = 2000; // one rendering longer than this is a finding

// Tokens a mutation may insert: the syntax the renderer's defences are about.
const DICT = [
  '<', '>', '</', '/>', '<script>', '</script>', '<img src=x onerror=', '<svg onload=', '<a href="',
  '<iframe src=', '<style>', '<math>', '<mglyph>', '<template>', '<!--', '-->', '<![CDATA[', ']]>',
  '"', "'", '`', '```', '~~~', '\n', '\n\n', '\r\n', '\t', '    ', '\\', '&', '&#', '&#x6a;', '&lt;',
  '&quot;', '&amp;', '&#0;', '\u0000', '\u202e', '\ufeff', '\u00a0', '[', ']', '(', ')', '](', '![',
  '[x](', '<https://', 'javascript:', 'JaVaScRiPt:', 'java\tscript:', 'vbscript:', 'data:',
  'data:text/html,', 'data:image/png;base64,iVBORw0KGgo=', 'data:image/svg+xml,', 'file:', 'mailto:',
  'http://', 'https://', '//', '#', '"title"', ' onmouseover=', ' style=', 'style="', ' class=',
  'text-align:center', '|', '|---|', '|:--|--:|', '---', '***', '___', '- ', '* ', '+ ', '1. ', '> ',
  '# ', '###### ', '**', '__', '*', '_', '~~', '[^1]', '[ref]: ', 'www.', '.com', '@', 'x'.repeat(40),
  '\n---\n', '---\ntask: x\n---\n', '<details open ontoggle=', '<form action=', '<base href=',
  '<meta http-equiv=refresh', '<object data=', '<embed src=', 'srcdoc=', 'formaction=',
];

// xorshift32: reproducible from the printed seed.
let state = (SEED >>> 0) || 1;
const rnd = () => {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 2 ** 32;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
const at = (s) => Math.floor(rnd() * (s.length + 1));

function mutate(s, corpus) {
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i += 1) {
    const k = rnd();
    const p = at(s);
    if (k < 0.35) s = s.slice(0, p) + pick(DICT) + s.slice(p);
    else if (k < 0.5 && s.length) s = s.slice(0, p) + s.slice(p + 1 + Math.floor(rnd() * 8));
    else if (k < 0.6 && s.length) { // repeat a piece: nesting and long runs
      const q = at(s);
      const piece = s.slice(Math.min(p, q), Math.max(p, q)).slice(0, 64);
      s = s.slice(0, p) + piece.repeat(1 + Math.floor(rnd() * 20)) + s.slice(p);
    } else if (k < 0.75) s = s.slice(0, p) + String.fromCharCode(Math.floor(rnd() * 0x80)) + s.slice(p + 1);
    else if (k < 0.85) s = s.slice(0, p) + String.fromCodePoint(Math.floor(rnd() * 0x10000) & 0xd7ff) + s.slice(p);
    else { // splice with another input
      const o = pick(corpus);
      s = s.slice(0, p) + o.slice(at(o));
    }
  }
  return s.slice(0, 65536);
}

// Runs in the page: renders each input and returns the broken promises.
function renderAll(inputs, slowMs) {
  const { renderMarkdown } = window.AgoraMarkdown;
  const ATTRS = {
    P: [], H2: [], H3: [], H4: [], H5: [], H6: [], UL: [], OL: ['start'], LI: [], EM: [], STRONG: [],
    A: ['href', 'title', 'rel', 'target'], CODE: ['class'], PRE: ['tabindex'], BLOCKQUOTE: [], HR: [],
    BR: [], TABLE: ['class'], THEAD: [], TBODY: [], TR: [], TH: ['class'], TD: ['class'],
    IMG: ['src', 'alt', 'title', 'class'], S: [], DEL: [], SPAN: [],
  };
  const out = [];
  const box = document.createElement('div');
  document.body.append(box);
  for (let i = 0; i < inputs.length; i += 1) {
    const why = [];
    try {
      const t0 = performance.now();
      const frag = renderMarkdown(inputs[i]);
      const ms = performance.now() - t0;
      if (ms > slowMs) why.push(`slow: ${ms.toFixed(0)} ms`);
      box.replaceChildren(frag);
      for (const el of box.querySelectorAll('*')) {
        const allowed = ATTRS[el.tagName];
        if (!allowed) { why.push(`element <${el.tagName}>`); continue; }
        for (const a of el.attributes) {
          if (!allowed.includes(a.name)) why.push(`<${el.tagName} ${a.name}>`);
        }
        const href = el.getAttribute('href');
        if (href !== null && !/^(https?:|mailto:)/i.test(href)) why.push(`href=${href.slice(0, 80)}`);
        const src = el.getAttribute('src');
        if (src !== null && !/^data:image\/(png|jpeg|gif|webp);base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(src)) {
          why.push(`src=${src.slice(0, 80)}`);
        }
      }
    } catch (err) {
      why.push(`threw: ${err && err.message}`);
    }
    if (window.__xss !== undefined) {
      why.push(`script ran: ${window.__xss}`);
      window.__xss = undefined;
    }
    if (why.length) out.push({ i, why: [...new Set(why)].slice(0, 5) });
  }
  box.remove();
  return out;
}

async function main() {
  const files = readdirSync(corpusDir).filter((f) => !f.startsWith('.')).sort();
  const corpus = files.map((f) => readFileSync(path.join(corpusDir, f), 'utf8'));
  if (!corpus.length) corpus.push('# model\n\n[x](https://example.org)');
  const bundle = await build({
    entryPoints: [path.join(root, 'web', 'src', 'markdown.js')], bundle: true, write: false,
    format: 'iife', globalName: 'AgoraMarkdown', logLevel: 'warning',
    nodePaths: [path.join(root, 'node_modules')],
  });
  const browser = await launch();
  let runs = 0;
  const found = [];
  try {
    const p = await newPage(browser);
    await p.page.goto('about:blank');
    await p.page.addScriptTag({ content: bundle.outputFiles[0].text });
    const check = async (inputs) => {
      const bad = await p.page.evaluate(([xs, slow]) => renderAll(xs, slow), [inputs, SLOW_MS]);
      runs += inputs.length;
      for (const b of bad) {
        const input = inputs[b.i];
        const name = `crash-${createHash('sha1').update(input).digest('hex')}`;
        writeFileSync(path.join(corpusDir, name), input);
        found.push(`${name}: ${b.why.join('; ')}`);
      }
    };
    await p.page.evaluate(`window.renderAll = ${renderAll.toString()}`);
    for (let i = 0; i < corpus.length; i += BATCH) await check(corpus.slice(i, i + BATCH));
    const end = Date.now() + SECONDS * 1000;
    while (runs < RUNS + corpus.length && Date.now() < end && found.length < 10) {
      const batch = [];
      for (let i = 0; i < BATCH; i += 1) batch.push(mutate(pick(corpus), corpus));
      await check(batch);
    }
    const problems = p.take();
    if (problems.length) found.push(`page problems: ${problems.join('; ')}`);
  } finally {
    await browser.close();
  }
  console.log(`fuzz.web_markdown: ${runs} inputs (${corpus.length} from the corpus), seed ${SEED}`);
  if (found.length) {
    console.error(`fuzz.web_markdown: ${found.length} findings\n${found.join('\n')}`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(err.stack || err);
  process.exit(1);
});
