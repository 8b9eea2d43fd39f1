// lib.mjs - what the browser tests share: start a real node on a free port
// with a fresh data directory, drive Debian's chromium through
// playwright-core, and watch every page for console errors and failed
// requests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
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
export async function startNode({ seed = false } = {}) {
  if (!BIN || !existsSync(BIN)) fail('AGORA_BIN must name the built agora binary');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'agora-browser-'));
  const dataDir = path.join(tmp, 'data');
  const env = { ...process.env, AGORA_PWHASH: 'min' };
  if (seed) {
    const r = spawnSync(BIN, ['demo', 'seed', '--data-dir', dataDir, '--pwhash', 'min'], { env, encoding: 'utf8' });
    if (r.status !== 0) fail(`agora demo seed failed: ${r.stderr}`);
  }
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log = (log + d).slice(-20000); });
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
// a watcher that records console errors, page errors, failed requests and
// HTTP error responses.
export async function newPage(browser, { phone = false, theme = 'light' } = {}) {
  const context = await browser.newContext(phone
    ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true, colorScheme: theme }
    : { viewport: { width: 1280, height: 800 }, colorScheme: theme });
  const page = await context.newPage();
  const problems = [];
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

// Opens a hash route and waits for the page to settle: the app booted and
// no spinner or placeholder is left.
export async function visit(page, base, hash) {
  await page.goto(`${base}/${hash}`);
  await settle(page);
}

export async function settle(page) {
  await page.waitForFunction(() => document.documentElement.dataset.ready === '1');
  await page.waitForFunction(() => !document.querySelector('#main .loading, #main .placeholder-glow'));
  await page.waitForLoadState('networkidle');
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
