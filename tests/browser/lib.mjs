// lib.mjs - what the browser tests share: start a real node on a free port
// with a fresh data directory, drive Debian's chromium through
// playwright-core, and watch every page for console errors and failed
// requests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'package.json'));
const { chromium } = require('playwright-core');

export const BIN = process.env.AGORA_BIN;
export const CHROMIUM = process.env.AGORA_CHROMIUM || '/usr/bin/chromium';

export function fail(msg) {
  throw new Error(msg);
}

export function check(cond, msg) {
  if (!cond) fail(`check failed: ${msg}`);
}

// Where screenshots go: tests/out/screenshots under the build directory.
export function outDir() {
  const dir = process.env.AGORA_TEST_OUT || path.join(path.dirname(BIN), 'tests', 'out', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

// Starts `agora serve` on 127.0.0.1:0; resolves {url, stop()} once it
// prints its address. With seed, the demo marketplace is loaded first.
// Starts a real anvil on a free port and deploys the contracts into a
// fresh directory with `agora chain deploy` (anvil's first development key,
// as `make run` does; deployArgs adds options, e.g. ['--arbitrator',
// 'panel']); resolves {rpc, manifest, stop()}.
export async function startChain({ deployArgs = [] } = {}) {
  const anvil = path.join(here, '..', '..', 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
  if (!existsSync(anvil)) fail(`no anvil at ${anvil} (npm ci)`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'agora-chain-'));
  const port = await freePort();
  const child = spawn(anvil, ['--host', '127.0.0.1', '--port', String(port), '--silent'], { stdio: 'ignore' });
  const rpc = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const until = Date.now() + 30000;
    for (;;) {
      try {
        const r = await fetch(rpc, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
        if (r.ok) break;
      } catch { /* not up yet */ }
      if (Date.now() > until) fail('anvil did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const key = path.join(tmp, 'deployer.key');
    writeFileSync(key, `${ANVIL_KEYS[0]}\n`, { mode: 0o600 });
    const dir = path.join(tmp, 'deploy');
    const r = spawnSync(BIN, ['chain', 'deploy', '--chain-rpc', rpc, '--key-file', key, '--data-dir', dir,
      '--contracts-dir', path.join(here, '..', '..', 'contracts'), ...deployArgs], { encoding: 'utf8', timeout: 600000 });
    if (r.status !== 0) fail(`agora chain deploy failed: ${r.stderr}${r.stdout}`);
    return { rpc, manifest: path.join(dir, 'chain.json'), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// anvil's well-known development keys (public; development chains only).
export const ANVIL_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startNode({ seed = false, args = [] } = {}) {
  if (!BIN || !existsSync(BIN)) fail('AGORA_BIN must name the built agora binary');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'agora-browser-'));
  const dataDir = path.join(tmp, 'data');
  const env = { ...process.env, AGORA_PWHASH: 'min' };
  if (seed) {
    const r = spawnSync(BIN, ['demo', 'seed', '--data-dir', dataDir, '--pwhash', 'min'], { env, encoding: 'utf8' });
    if (r.status !== 0) fail(`agora demo seed failed: ${r.stderr}`);
  }
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let report = ''; // the first sanitizer report (the tests run the ASan + UBSan build)
  child.stderr.on('data', (d) => {
    log = (log + d).slice(-20000);
    if (!report) {
      const i = log.search(/ERROR: (Address|Leak)Sanitizer|runtime error:|UndefinedBehaviorSanitizer/);
      if (i >= 0) report = log.slice(i, i + 4000);
    }
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`agora serve did not start:\n${log}`)), 60000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /agora: serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agora serve exited with ${code}:\n${log}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(tmp, { recursive: true, force: true });
    // A leak or runtime error in the node fails the test, even when every
    // page looked right (the report may complete just before exit).
    if (!report && /ERROR: (Address|Leak)Sanitizer|runtime error:/.test(log)) report = log.slice(-4000);
    if (report) fail(`the node's sanitizers reported (exit ${child.exitCode}):\n${report}`);
  };
  return { url, stop, log: () => log };
}

export async function launch() {
  if (!existsSync(CHROMIUM)) fail(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A fresh context (own cookies and storage) at desktop or phone size, with
// reduced motion (no CSS transitions caught half-way in a screenshot or a
// contrast check), with a watcher that records console errors, page errors, failed requests and
// HTTP error responses.
export async function newPage(browser, { phone = false, theme = 'light' } = {}) {
  const context = await browser.newContext(phone
    ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true, colorScheme: theme, reducedMotion: 'reduce' }
    : { viewport: { width: 1280, height: 800 }, colorScheme: theme, reducedMotion: 'reduce' });
  const page = await context.newPage();
  const problems = [];
  watch(page, problems);
  return {
    page,
    context,
    problems,
    // Problems since the last call, cleared.
    take() {
      return problems.splice(0, problems.length);
    },
  };
}

// Records the page's console errors, page errors, failed requests and HTTP
// error responses into `problems`; accepts dialogs (confirm()).
export function watch(page, problems) {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure() ? r.failure().errorText : '';
    if (!/ERR_ABORTED/.test(why)) problems.push(`request failed: ${r.method()} ${r.url()} ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  page.on('dialog', (d) => d.accept());
  page.setDefaultTimeout(20000);
  return page;
}

// A browser wallet (EIP-1193) in every page of the context: anvil's own
// wallet (its unlocked development accounts sign personal_sign,
// eth_signTypedData_v4 and eth_sendTransaction), reached through a function
// the test exposes: the page itself may only talk to its node.
export async function injectWallet(context, chainRpc, account) {
  await context.exposeFunction('agoraTestWallet', async (method, params) => JSON.stringify(await fetch(chainRpc, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  }).then((r) => r.json())));
  await context.addInitScript((acct) => {
    window.ethereum = {
      async request({ method, params }) {
        if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [acct];
        const j = JSON.parse(await window.agoraTestWallet(method, params || []));
        if (j.error) throw Object.assign(new Error(j.error.message), { code: j.error.code, data: j.error.data });
        return j.result;
      },
      on() {},
      removeListener() {},
    };
  }, account);
}

// Opens a hash route (reloads it when it is on screen already) and waits
// for the page to settle: the app booted and no spinner or placeholder is
// left.
export async function visit(page, base, hash) {
  const url = `${base}/${hash}`;
  // goto() to the address on screen changes nothing: load it again.
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await settle(page);
}

export async function settle(page) {
  await page.waitForFunction(() => document.documentElement.dataset.ready === '1');
  await page.waitForFunction(() => !document.querySelector('#main .loading, #main .placeholder-glow'));
  await page.waitForLoadState('networkidle');
}

// Accessibility and CSP problems of the page on screen: inline script or
// style, unlabelled controls, not exactly one <h1>, images without alt,
// horizontal overflow.
export async function audit(page) {
  return page.evaluate(() => {
    const issues = [];
    for (const s of document.querySelectorAll('script')) if (!s.src) issues.push('inline <script>');
    if (document.querySelectorAll('style').length) issues.push('<style> element');
    for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
      const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!named) issues.push(`unlabelled ${el.tagName.toLowerCase()}[name=${el.name}]`);
    }
    const h1 = document.querySelectorAll('#main h1').length;
    if (h1 !== 1) issues.push(`${h1} <h1> elements`);
    for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) issues.push('img without alt');
    if (document.documentElement.scrollWidth > window.innerWidth + 1) issues.push(`horizontal overflow (${document.documentElement.scrollWidth}px)`);
    return issues;
  });
}

// axe-core (npm) run on the page on screen, WCAG 2.x A and AA rules and
// best practices (contrast, labels, names of buttons and links, landmarks,
// ARIA). Returns the serious and critical violations, one line each with
// the first few offending elements. The script is evaluated through the
// DevTools protocol, which the page's CSP (script-src 'self') does not
// govern, so the page runs under its real policy.
let axeSource = null;
export async function axe(page) {
  if (!axeSource) axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Colours at rest: no hover state left by the last click (the contexts
  // also ask for reduced motion, so no transition is caught half-way).
  await page.mouse.move(0, 0);
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    resultTypes: ['violations'],
  }).then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => `${n.target.join(' ')}${n.failureSummary ? ` (${n.failureSummary.replace(/\s+/g, ' ').slice(0, 200)})` : ''}`),
  }))));
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `axe ${v.impact} ${v.id}: ${v.help}: ${v.nodes.slice(0, 3).join(' | ')}${v.nodes.length > 3 ? ` (+${v.nodes.length - 3} more)` : ''}`);
}

export async function run(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`${name}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    process.exit(0);
  } catch (err) {
    console.error(`${name}: FAILED\n${err.stack || err}`);
    process.exit(1);
  }
}

// Registers through the UI and leaves the user signed in.
export async function register(page, base, username, password = 'correct horse battery') {
  await visit(page, base, '#/register');
  await page.fill('#register-form [name=username]', username);
  await page.fill('#register-form [name=email]', `${username}@example.org`);
  await page.fill('#register-form [name=password]', password);
  await page.click('#register-form button[type=submit]');
  await page.waitForSelector('#logout', { state: 'attached' });
  await settle(page);
}

export async function login(page, base, username, password = 'correct horse battery') {
  await visit(page, base, '#/login');
  await page.fill('#login-form [name=login]', username);
  await page.fill('#login-form [name=password]', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#logout', { state: 'attached' });
  await settle(page);
}

export async function logout(page) {
  if (await page.locator('#nav-toggle').isVisible()) await page.click('#nav-toggle');
  await page.click('#logout');
  await page.waitForSelector('#nav-user a[href="#/login"]', { state: 'attached' });
}

export { spawnSync };
