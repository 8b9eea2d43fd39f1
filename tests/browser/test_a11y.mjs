// test_a11y.mjs - accessibility checked by a tool: axe-core (npm) on every
// main page of a seeded marketplace (home, explore, model, publish, account,
// profile, library, dashboard, wallet, plus login), signed in where the page
// needs it, in light and dark themes at desktop (1280x800) and phone
// (390x844) widths; any serious or critical violation (contrast, labels,
// names of buttons and links, landmarks, ARIA misuse) fails, as does any
// console error or failed request. Then the keyboard: Tab walks the header
// (skip link, brand, menu, search, account, theme) and the search form in
// reading order with a visible focus ring at each stop, at desktop width and
// through the collapsed menu at phone width, and the search runs on Enter.
import { axe, check, launch, login, newPage, run, settle, startNode, visit } from './lib.mjs';

const PAGES = [
  ['home', '#/'],
  ['explore', '#/explore?q=onnx&sort=likes'],
  ['model', '#/m/tomasz_nlp/whisper-tiny-en-onnx'],
  ['model-paid', '#/m/datacraft/credit-risk-gbm'],
  ['publish', '#/publish'],
  ['edit-model', '#/m/tomasz_nlp/whisper-tiny-en-onnx/edit'],
  ['account', '#/account'],
  ['profile', '#/u/tomasz_nlp'],
  ['library', '#/library'],
  ['dashboard', '#/dashboard'],
  ['wallet', '#/wallet'],
  ['disputes', '#/disputes'],
];
const SIGNED_OUT = [
  ['login', '#/login'],
  ['register', '#/register'],
  ['home-signed-out', '#/'],
  ['library-signed-out', '#/library'],
];

async function sweep(browser, base, { theme, phone }) {
  const tag = `${theme}, ${phone ? 'phone' : 'desktop'}`;
  const found = [];
  const anon = await newPage(browser, { theme, phone });
  for (const [name, hash] of SIGNED_OUT) {
    await visit(anon.page, base, hash);
    for (const v of await axe(anon.page)) found.push(`${name} (${tag}): ${v}`);
    for (const p of anon.take()) found.push(`${name} (${tag}): ${p}`);
  }
  await anon.context.close();
  const p = await newPage(browser, { theme, phone });
  await login(p.page, base, 'tomasz_nlp', 'agora-demo-password');
  p.take();
  for (const [name, hash] of PAGES) {
    await visit(p.page, base, hash);
    const t = await p.page.evaluate(() => document.documentElement.getAttribute('data-bs-theme'));
    check(t === theme, `${name}: the ${theme} theme is on (${t})`);
    for (const v of await axe(p.page)) found.push(`${name} (${tag}): ${v}`);
    for (const x of p.take()) found.push(`${name} (${tag}): ${x}`);
  }
  await p.context.close();
  return found;
}

// What has focus: a short description, and whether a focus indicator
// (outline or box-shadow) is drawn.
async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { what: 'body', ring: false };
    const s = getComputedStyle(el);
    const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || (s.boxShadow && s.boxShadow !== 'none');
    const what = el.id ? `#${el.id}` : el.classList.contains('skip-link') ? 'skip-link'
      : el.classList.contains('navbar-brand') ? 'brand'
        : el.tagName === 'A' ? `a ${el.getAttribute('href')}` : `${el.tagName.toLowerCase()} ${el.textContent.trim()}`;
    return { what, ring };
  });
}

async function tabs(page, n) {
  const seen = [];
  for (let i = 0; i < n; i += 1) {
    await page.keyboard.press('Tab');
    seen.push(await focused(page));
  }
  return seen;
}

function expectOrder(seen, want, where) {
  const got = seen.map((s) => s.what);
  check(got.join(' > ') === want.join(' > '), `${where}: focus order\n  got  ${got.join(' > ')}\n  want ${want.join(' > ')}`);
  const bare = seen.filter((s) => !s.ring).map((s) => s.what);
  check(bare.length === 0, `${where}: no visible focus indicator on ${bare.join(', ')}`);
}

async function keyboard(browser, base) {
  // Desktop, signed in: the header in reading order, then the search.
  const d = await newPage(browser);
  await login(d.page, base, 'tomasz_nlp', 'agora-demo-password');
  await visit(d.page, base, '#/');
  await d.page.reload(); // focus starts at the top of the document
  await settle(d.page);
  const want = ['skip-link', 'brand', 'a #/explore', 'a #/publish', 'a #/library', 'a #/dashboard', 'a #/wallet',
    '#nav-q', 'a #/u/tomasz_nlp', 'a #/account', '#logout', '#theme-toggle'];
  expectOrder(await tabs(d.page, want.length), want, 'desktop header');
  // Back into the search box, type, Enter: the explore page with the query.
  await d.page.keyboard.down('Shift');
  for (let i = 0; i < 4; i += 1) await d.page.keyboard.press('Tab');
  await d.page.keyboard.up('Shift');
  check((await focused(d.page)).what === '#nav-q', 'Shift+Tab walks back to the search box');
  await d.page.keyboard.type('whisper');
  await d.page.keyboard.press('Enter');
  await d.page.waitForURL(/#\/explore\?q=whisper$/);
  await settle(d.page);
  check(await d.page.evaluate(() => document.activeElement.id === 'main'), 'after the search, focus moves to the content');
  // The explore page's own search form follows the header, in order.
  const form = await tabs(d.page, 3);
  check(form[0].what === '#ex-q' && form.every((s) => s.ring), `the explore search form comes first in the content (${form.map((s) => s.what).join(' > ')})`);
  check(await d.page.inputValue('#ex-q') === 'whisper', 'the explore search box holds the query');
  check(d.take().length === 0, 'keyboard walk (desktop) without errors');

  // Phone, signed out: the menu collapses behind its button; Enter opens it
  // and Tab continues into it.
  const m = await newPage(browser, { phone: true });
  await visit(m.page, base, '#/');
  const head = await tabs(m.page, 3);
  expectOrder(head, ['skip-link', 'brand', '#nav-toggle'], 'phone header');
  check(await m.page.getAttribute('#nav-toggle', 'aria-expanded') === 'false', 'the menu starts collapsed');
  await m.page.keyboard.press('Enter');
  check(await m.page.getAttribute('#nav-toggle', 'aria-expanded') === 'true', 'Enter opens the menu');
  const menu = ['a #/explore', 'a #/publish', 'a #/library', 'a #/dashboard', 'a #/wallet', '#nav-q',
    'a #/login', 'a #/register', '#theme-toggle'];
  expectOrder(await tabs(m.page, menu.length), menu, 'phone menu');
  check(m.take().length === 0, 'keyboard walk (phone) without errors');
}

run('browser.a11y', async () => {
  const node = await startNode({ seed: true });
  const browser = await launch();
  try {
    const base = node.url;
    const found = [];
    for (const theme of ['light', 'dark']) {
      for (const phone of [false, true]) found.push(...await sweep(browser, base, { theme, phone }));
    }
    check(found.length === 0, `accessibility problems:\n  ${found.join('\n  ')}`);
    await keyboard(browser, base);
  } finally {
    await browser.close();
    await node.stop();
  }
});
