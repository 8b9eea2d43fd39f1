// test_pages.mjs - every main page of a seeded marketplace, at desktop
// (1280x800) and phone (390x844) widths, light and dark: screenshotted into
// tests/out/screenshots, and failed on any console error, page error,
// failed request or HTTP error, on an inline script, on a form control
// without a label, or on a page without exactly one <h1>.
import net from 'node:net';
import path from 'node:path';
import { audit, check, launch, login, newPage, outDir, run, settle, startNode, visit } from './lib.mjs';

const PUBLIC = [
  ['home', '#/'],
  ['explore', '#/explore'],
  ['search', '#/explore?q=onnx&license=apache-2.0&sort=likes'],
  ['model', '#/m/tomasz_nlp/whisper-tiny-en-onnx'],
  ['model-paid', '#/m/datacraft/credit-risk-gbm'],
  ['profile', '#/u/tomasz_nlp'],
  ['login', '#/login'],
  ['register', '#/register'],
  ['library', '#/library'],
  ['wallet', '#/wallet'],
  ['not-found', '#/no/such/page'],
];
const SIGNED_IN = [
  ['publish', '#/publish'],
  ['edit-model', '#/m/tomasz_nlp/whisper-tiny-en-onnx/edit'],
  ['account', '#/account'],
  ['edit-profile', '#/settings/profile'],
  ['dashboard', '#/dashboard'],
  ['model-signed-in', '#/m/datacraft/credit-risk-gbm'],
];

async function tour(browser, base, pages, { phone, theme, user }) {
  const p = await newPage(browser, { phone, theme });
  if (user) await login(p.page, base, user, 'agora-demo-password');
  p.take();
  const dir = outDir();
  const tag = `${phone ? 'phone' : 'desktop'}${theme === 'dark' ? '-dark' : ''}`;
  for (const [name, hash] of pages) {
    await visit(p.page, base, hash);
    const theme2 = await p.page.evaluate(() => document.documentElement.getAttribute('data-bs-theme'));
    check(theme2 === theme, `${name}: theme follows prefers-color-scheme (${theme2})`);
    const issues = [...p.take(), ...await audit(p.page)];
    await p.page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await p.page.screenshot({ path: path.join(dir, `${name}-${tag}.png`), fullPage: true });
    check(issues.length === 0, `${name} (${tag}): ${issues.join('; ')}`);
  }
  await p.context.close();
}

run('browser.pages', async () => {
  const node = await startNode({ seed: true });
  const browser = await launch();
  try {
    const base = node.url;
    // The UI is served under the node's strict CSP, and its HTML needs no
    // exception to it.
    const res = await fetch(`${base}/`);
    const csp = res.headers.get('content-security-policy') || '';
    check(/script-src 'self'/.test(csp) && /style-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), `CSP: ${csp}`);
    const html = await res.text();
    check(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html) && !/\sstyle=|<style/i.test(html), 'index.html has no inline script or style');
    for (const asset of ['app.js', 'app.css', 'favicon.svg']) {
      const r = await fetch(`${base}/${asset}`);
      check(r.status === 200 && (await r.arrayBuffer()).byteLength > 0, `${asset} is served`);
    }
    for (const phone of [false, true]) {
      await tour(browser, base, PUBLIC, { phone, theme: 'light' });
      await tour(browser, base, SIGNED_IN, { phone, theme: 'light', user: 'tomasz_nlp' });
    }
    await tour(browser, base, PUBLIC.slice(0, 4), { phone: false, theme: 'dark' });
    await tour(browser, base, SIGNED_IN.slice(0, 1), { phone: true, theme: 'dark', user: 'tomasz_nlp' });

    // The theme toggle overrides the system preference and is remembered.
    const t = await newPage(browser, { theme: 'light' });
    await visit(t.page, base, '#/');
    await t.page.click('#theme-toggle');
    check(await t.page.evaluate(() => document.documentElement.getAttribute('data-bs-theme')) === 'dark', 'toggle to dark');
    await t.page.reload();
    await settle(t.page);
    check(await t.page.evaluate(() => document.documentElement.getAttribute('data-bs-theme')) === 'dark', 'dark remembered');

    // Keyboard: the first Tab reaches the skip link, which moves focus to
    // the content; a search can be typed and sent with Enter.
    await visit(t.page, base, '#/');
    await t.page.keyboard.press('Tab');
    check(await t.page.evaluate(() => document.activeElement.classList.contains('skip-link')), 'first Tab: skip link');
    await t.page.keyboard.press('Enter');
    check(await t.page.evaluate(() => document.activeElement.id === 'main' && location.hash === '#/'), 'skip link reaches main, route kept');
    await visit(t.page, base, '#/');
    await t.page.focus('#home-q');
    await t.page.keyboard.type('whisper');
    await t.page.keyboard.press('Enter');
    await t.page.waitForURL(/#\/explore\?q=whisper$/);
    await settle(t.page);
    check(await t.page.locator('.model-tile').count() >= 1, 'keyboard search finds whisper');

    // Explore: keyset "load more", facets that filter, state in the URL.
    await visit(t.page, base, '#/explore?sort=newest');
    const first = await t.page.locator('.model-tile').count();
    check(first === 12, `first page holds 12 tiles (${first})`);
    await t.page.click('#load-more');
    await t.page.waitForFunction(() => document.querySelectorAll('.model-tile').length > 12);
    await t.page.waitForSelector('#main .loading', { state: 'detached' });
    const titles = await t.page.locator('.model-tile h3').allTextContents();
    const total = Number((await t.page.locator('#ex-summary').textContent()).split(' ')[0]);
    check(titles.length === total && new Set(titles).size === titles.length, `load more reaches all ${total} without repeats (${titles.length})`);
    check(await t.page.locator('#load-more').count() === 0, 'no load more after the last page');
    // How far the results were read is in the URL too: the link opens there.
    check(/[?&]pages=2(&|$)/.test(new URL(t.page.url()).hash), `load more records pages=2 (${t.page.url()})`);
    const deep = await newPage(browser);
    await deep.page.goto(t.page.url());
    await settle(deep.page);
    const again = await deep.page.locator('.model-tile h3').allTextContents();
    check(JSON.stringify(again) === JSON.stringify(titles), `a shared pages=2 link shows the same ${titles.length} tiles (${again.length})`);
    check(deep.take().length === 0, 'pages=2 link without errors');
    await deep.context.close();
    await t.page.click('.facet-list button:has-text("speech-recognition")');
    await t.page.waitForFunction(() => location.hash.includes('task=speech-recognition'));
    await t.page.waitForSelector('#main .placeholder-glow', { state: 'detached' });
    check(await t.page.locator('.model-tile').count() === 1, 'task facet filters');
    await t.page.check('#ex-free');
    await t.page.waitForFunction(() => location.hash.includes('free=1'));
    const shared = t.page.url();
    const u = await newPage(browser);
    await u.page.goto(shared);
    await settle(u.page);
    check(await u.page.locator('#ex-free').isChecked(), 'shared URL restores the free filter');
    check(await u.page.locator('.facet-list button.active:has-text("speech-recognition")').count() === 1, 'shared URL restores the facet');
    await u.page.click('#ex-chips button[aria-label="Remove filter Task speech-recognition"]');
    await u.page.waitForFunction(() => !location.hash.includes('task='));
    await settle(u.page);
    check(await u.page.locator('#ex-chips button').count() === 1, 'one filter chip left (free)');
    check(await u.page.locator('.model-tile').count() > 1, 'removing the task chip widens the results');
    // Filters checked before sending: a bad price is explained beside it.
    await visit(u.page, base, '#/explore?price_max=lots');
    check(await u.page.locator('#ex-price_max.is-invalid').count() === 1, 'bad price filter marked');
    check(await u.page.locator('#node-health').isHidden(), 'no health banner on a healthy node');
    const problems = [...t.take(), ...u.take()];
    check(problems.length === 0, problems.join('; '));
    await fallbackBanner(browser);
  } finally {
    await browser.close();
    await node.stop();
  }
});

// A node whose Kubo cannot be reached runs on its local storage and says so
// on every page (the port is bound and closed again, so nothing listens).
async function fallbackBanner(browser) {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const dead = srv.address().port;
  await new Promise((r) => srv.close(r));
  const node = await startNode({ args: ['--kubo-api', `http://127.0.0.1:${dead}`] });
  try {
    const p = await newPage(browser);
    await visit(p.page, node.url, '#/explore');
    const banner = p.page.locator('#node-health [data-health="storage"]');
    await banner.waitFor({ state: 'visible' });
    check(/Local storage only/.test(await banner.textContent()), 'the fallback banner says local storage only');
    await p.page.screenshot({ path: path.join(outDir(), 'storage-fallback-desktop.png') });
    const issues = [...p.take(), ...await audit(p.page)];
    check(issues.length === 0, `fallback banner: ${issues.join('; ')}`);
    await p.context.close();
  } finally {
    await node.stop();
  }
}
