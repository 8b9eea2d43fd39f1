// test_disputes.mjs - disputes when the marketplace's arbitrator is an
// ArbitrationPanel contract (`agora chain deploy --arbitrator panel`, which
// appoints the deployer as its arbiter), in a real browser on a real anvil.
// The sale and the dispute are made with ethers straight on the chain (a
// reference client, not our UI): a seller registers, publishes and prices a
// model, a buyer buys it and disputes the purchase. In the browser: a wallet
// that is not an arbiter is told who the arbitrator is; the arbiter (a
// browser wallet) finds the dispute and its reason on the Disputes view and
// rules "release", which the UI sends through ArbitrationPanel.giveRuling
// (checked on the chain: the purchase released, the panel's case ruled by
// the arbiter); the buyer, signed in with their wallet, sees the ruling in
// the library and keeps the download. Views are screenshotted at desktop and
// phone width (and in the dark theme) and checked with axe-core; any
// console error or failed request fails the test.
import path from 'node:path';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  audit, axe, check, injectWallet, launch, newPage, outDir, run, settle, startChain, startNode, visit,
} from './lib.mjs';
import * as ABI from '../../web/src/abi.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'package.json'));
const { Contract, JsonRpcProvider, id: keccakId } = require('ethers');

const PRICE = 7n * 10n ** 18n;
const REASON = 'The model card says ONNX opset 17, the file is opset 9 and will not load. (\u00e9t\u00e9 \u2713)';

async function shoot(p, name, { phone = false } = {}) {
  const issues = [...p.take(), ...await audit(p.page), ...await axe(p.page)];
  await p.page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
  await p.page.screenshot({ path: path.join(outDir(), `${name}-${phone ? 'phone' : 'desktop'}.png`), fullPage: true });
  check(issues.length === 0, `${name} (${phone ? 'phone' : 'desktop'}): ${issues.join('; ')}`);
}

// Shoots the page (desktop width) in the dark theme, switched with the
// navigation's toggle, and switches back.
async function shootDark(p, name) {
  await p.page.click('#theme-toggle');
  check(await p.page.evaluate(() => document.documentElement.getAttribute('data-bs-theme')) === 'dark', `${name}: dark theme on`);
  await shoot(p, `${name}-dark`);
  await p.page.click('#theme-toggle');
}

async function shootBoth(p, name) {
  await shoot(p, name);
  await p.page.setViewportSize({ width: 390, height: 844 });
  await settle(p.page);
  await shoot(p, name, { phone: true });
  await p.page.setViewportSize({ width: 1280, height: 800 });
}

// A listing on the node (so that the library can name it), made through the API.
async function nodeListing(base, user, slug) {
  const post = async (p, body, token) => {
    const r = await fetch(`${base}/api/v1${p}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
    });
    const j = await r.json();
    check(r.ok, `POST ${p}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  await post('/auth/register', { username: user, email: `${user}@example.org`, password: 'correct horse battery' });
  const { token } = await post('/auth/login', { login: user, password: 'correct horse battery', token_name: 'test' });
  await post('/models', { slug, title: 'Panel Model', summary: 'A model sold in the panel test.' }, token);
}

run('browser.disputes', async () => {
  const chain = await startChain({ deployArgs: ['--arbitrator', 'panel'] });
  const node = await startNode({ args: ['--chain-rpc', chain.rpc, '--chain-manifest', chain.manifest, '--chain-poll-ms', '100'] });
  const browser = await launch();
  try {
    const base = node.url;
    const addrs = Object.fromEntries(Object.entries(JSON.parse(readFileSync(chain.manifest, 'utf8')).contracts).map(([k, v]) => [k, v.address]));
    check(addrs.ArbitrationPanel, 'the panel was deployed');
    const provider = new JsonRpcProvider(chain.rpc);
    const [arbiter, sellerAddr, buyerAddr, , , strangerAddr] = await provider.send('eth_accounts', []);
    const seller = await provider.getSigner(sellerAddr);
    const buyer = await provider.getSigner(buyerAddr);
    const market = new Contract(addrs.Marketplace, ABI.Marketplace, provider);
    const panel = new Contract(addrs.ArbitrationPanel, ABI.ArbitrationPanel, provider);
    check((await market.arbitrator()).toLowerCase() === addrs.ArbitrationPanel.toLowerCase() && await market.arbitratorIsContract(), 'the panel is the arbitrator');

    // --- the sale and the dispute, with ethers --------------------------------
    const name = 'pia_seller/panel-model';
    await nodeListing(base, 'pia_seller', 'panel-model');
    const registry = new Contract(addrs.ModelRegistry, ABI.ModelRegistry, seller);
    await (await registry.registerModel(keccakId(name), `agora:${name}`)).wait();
    const modelId = await registry.modelIdBySlug(keccakId(name));
    await (await registry.publishVersion(modelId, '1.0.0', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
      `0x${'ab'.repeat(32)}`, [], [], keccakId(''))).wait();
    await (await market.connect(seller).setPrice(modelId, PRICE)).wait();
    const token = new Contract(addrs.AgoraToken, ABI.AgoraToken, buyer);
    await (await token.faucet(buyerAddr)).wait();
    await (await token.approve(addrs.Marketplace, PRICE)).wait();
    await (await market.connect(buyer).buy(modelId, PRICE)).wait();
    await (await market.connect(buyer).openDispute(1, REASON)).wait();

    // --- a wallet without the role --------------------------------------------
    const x = await newPage(browser);
    await injectWallet(x.context, chain.rpc, strangerAddr);
    await visit(x.page, base, '#/wallet');
    await x.page.click('#connect-injected');
    await x.page.waitForSelector('#wallet-address');
    await settle(x.page);
    check(await x.page.locator('#arbitrator-card').count() === 0, 'no arbitrator card for a stranger');
    await visit(x.page, base, '#/disputes');
    await x.page.waitForSelector('#not-arbitrator');
    check((await x.page.textContent('#not-arbitrator')).toLowerCase().includes(addrs.ArbitrationPanel.toLowerCase()), 'the view names the panel');
    await shoot(x, 'disputes-stranger');

    // --- the arbiter rules release through the panel ---------------------------
    const a = await newPage(browser);
    await injectWallet(a.context, chain.rpc, arbiter);
    await visit(a.page, base, '#/wallet');
    await a.page.click('#connect-injected');
    await a.page.waitForSelector('#arbitrator-card >> text=arbiter of the marketplace\u2019s arbitration panel');
    await a.page.click('#arbitrator-card a[href="#/disputes"]');
    await settle(a.page);
    await a.page.waitForSelector('#arbitrator-state >> text=is an arbiter of the arbitration panel');
    const card = await a.page.textContent('.dispute-card[data-dispute="1"]');
    check(card.includes(REASON), `the reason, as the buyer wrote it (${card})`);
    check(card.includes(name) && card.includes('#1, 7 AGR'), `the model and the purchase (${card})`);
    await shootBoth(a, 'disputes-panel');
    await shootDark(a, 'disputes-panel');
    await a.page.click('.dispute-card[data-dispute="1"] .rule-release');
    await a.page.waitForSelector('#ruled-disputes tr[data-dispute="1"] >> text=Released', { timeout: 60000 });
    check((await market.getPurchase(1)).status === 3n, 'the purchase is released on-chain');
    const c = await panel.getCase(addrs.Marketplace, 1);
    check(c.ruling === 2n && c.ruledBy.toLowerCase() === arbiter.toLowerCase(), 'the panel recorded the arbiter\u2019s ruling');
    check(await market.balanceOf(sellerAddr) > 0n, 'the seller was credited');
    await shoot(a, 'disputes-panel-ruled');

    // --- the buyer sees the ruling and keeps the licence ----------------------
    const b = await newPage(browser);
    await injectWallet(b.context, chain.rpc, buyerAddr);
    await visit(b.page, base, '#/login');
    await b.page.click('button:has-text("Sign in with your browser wallet")');
    await b.page.waitForSelector('#logout', { state: 'attached' });
    await settle(b.page);
    for (let i = 0; i < 120; i += 1) {
      const r = await b.context.request.get(`${base}/api/v1/library`);
      if ((await r.json()).items.some((p) => p.status === 'released')) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    await visit(b.page, base, '#/library');
    const item = '.library-item[data-purchase="1"]';
    await b.page.waitForSelector(`${item} .dispute-state[data-ruling="release"]`);
    check(await b.page.textContent(`${item} .status-badge`) === 'Active', 'the licence stands');
    check((await b.page.textContent(`${item} .dispute-reason`)).includes(REASON), 'the library shows the reason');
    check(await b.page.textContent(`${item} h2`) === name, 'the library names the listing');
    await shootBoth(b, 'library-released');
    await shootDark(b, 'library-released');
    for (const p of [x, a, b]) {
      const problems = p.take();
      check(problems.length === 0, problems.join('; '));
    }
  } catch (err) {
    for (const [i, ctx] of browser.contexts().entries()) {
      for (const [j, pg] of ctx.pages().entries()) {
        await pg.screenshot({ path: path.join(outDir(), `disputes-failure-${i}-${j}.png`), fullPage: true }).catch(() => {});
      }
    }
    throw err;
  } finally {
    await browser.close();
    await node.stop();
    await chain.stop();
  }
});
