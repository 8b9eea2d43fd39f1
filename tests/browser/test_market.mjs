// test_market.mjs - the marketplace with a real chain, in a real browser:
// issue 6's scenario. A real anvil, `agora chain deploy`, and the node
// with --chain-rpc. One user registers, publishes a free model with a file
// uploaded through the UI (progress bar; the upload is cut after its first
// piece, the page reloaded, and the same file chosen again resumes at the
// node's offset), finds it through search, sees its page and downloads the
// file. The same seller publishes a paid model and puts it on-chain from a
// burner wallet (register, publish the version, set the price). A second
// user connects a burner wallet, takes faucet ETH and tokens, buys the paid
// model (permit + buy, through the node's relay), downloads it, and reviews
// it: the review is "Verified licence". The seller's dashboard shows the
// sale and, after the escrow window (anvil's clock moved), withdraws; the
// buyer's stale "Open a dispute" is then refused by the contract
// (DisputeWindowClosed, read by name). A third user buys with a browser
// wallet and disputes the purchase from the library (the reason checked
// first); the seller's dashboard shows the sale as disputed with the reason;
// the arbitrator (the deployer, through a browser wallet) rules refund from
// the Disputes view; the buyer's tokens come back, the node refuses the
// download, and the library and model page say "Refunded". Second tabs left
// open show that a repeated dispute or ruling is refused by name too.
// New pages are screenshotted at desktop and phone width and checked with
// axe-core; any console error or failed request not provoked on purpose
// fails the test.
import path from 'node:path';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import {
  audit, axe, check, injectWallet, launch, newPage, outDir, register, run, settle, startChain, startNode, visit, watch,
} from './lib.mjs';

const FREE_BYTES = Buffer.alloc(9 * 1024 * 1024 + 12345);
for (let i = 0; i < FREE_BYTES.length; i += 1) FREE_BYTES[i] = (i * 7919 + (i >> 13)) & 255;
const PAID_BYTES = Buffer.from('ONNX weights of a paid model, '.repeat(5000));

function expectClean(p, where) {
  const problems = p.take();
  check(problems.length === 0, `${where}: ${problems.join('; ')}`);
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

async function rpc(url, method, params = []) {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const j = await r.json();
  if (j.error) throw new Error(`${method}: ${j.error.message}`);
  return j.result;
}

async function shoot(p, name, { phone = false } = {}) {
  const issues = [...p.take(), ...await audit(p.page), ...await axe(p.page)];
  await p.page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
  await p.page.screenshot({ path: path.join(outDir(), `${name}-${phone ? 'phone' : 'desktop'}.png`), fullPage: true });
  check(issues.length === 0, `${name} (${phone ? 'phone' : 'desktop'}): ${issues.join('; ')}`);
}

async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  const file = await dl.path();
  check(!(await dl.failure()), `download of ${dl.suggestedFilename()} failed`);
  return readFileSync(file);
}

// Shoots the page (desktop width) in the dark theme, switched with the
// navigation's toggle, and switches back.
async function shootDark(p, name) {
  await p.page.click('#theme-toggle');
  check(await p.page.evaluate(() => document.documentElement.getAttribute('data-bs-theme')) === 'dark', `${name}: dark theme on`);
  await shoot(p, `${name}-dark`);
  await p.page.click('#theme-toggle');
}

// Shoots the page at desktop width, then at phone width, and back.
async function shootBoth(p, name) {
  await shoot(p, name);
  await p.page.setViewportSize({ width: 390, height: 844 });
  await settle(p.page);
  await shoot(p, name, { phone: true });
  await p.page.setViewportSize({ width: 1280, height: 800 });
}

// A second tab of the same browser context (same session and wallet),
// watched like the first.
async function secondTab(p) {
  const page = watch(await p.context.newPage(), p.problems);
  return page;
}

async function burnerWithFaucet(p, base) {
  await visit(p.page, base, '#/wallet');
  await p.page.click('#connect-burner');
  await p.page.waitForSelector('#wallet-address');
  await p.page.click('#faucet-btn');
  await p.page.waitForSelector('text=Sent 1 ETH and 1,000 AGR to your wallet.');
  await p.page.waitForFunction(() => document.querySelector('#bal-agr')?.textContent === '1,000 AGR');
  check(await p.page.textContent('#bal-eth') === '1 ETH', 'the burner holds the faucet ETH');
  return (await p.page.textContent('#wallet-address')).trim();
}

async function createListing(p, base, { title, price, card }) {
  await visit(p.page, base, '#/publish');
  await p.page.fill('#listing-form [name=title]', title);
  await p.page.fill('#listing-form [name=summary]', `${title}: a tiny test model.`);
  if (card) await p.page.fill('#listing-form [name=card]', card);
  if (price) await p.page.fill('#listing-form [name=price]', price);
  await p.page.click('#listing-form button[type=submit]');
  await p.page.waitForSelector('#version-form');
  await settle(p.page);
  await p.page.fill('#version-form [name=version]', '1.0.0');
  await p.page.click('#version-form button[type=submit]');
  await p.page.waitForSelector('.version-row[data-version="1.0.0"] input[type=file]');
}

async function uploadAndPublish(p, name, bytes) {
  await p.page.setInputFiles('.version-row[data-version="1.0.0"] input[type=file]', { name, mimeType: 'application/octet-stream', buffer: bytes });
  await p.page.waitForSelector(`.version-files >> text=${name}`, { timeout: 60000 });
  await p.page.click('button[aria-label="Publish version 1.0.0"]');
  await p.page.waitForSelector('.version-row[data-version="1.0.0"] >> text=Published');
  await settle(p.page);
}

run('browser.market', async () => {
  const chain = await startChain();
  const node = await startNode({ args: ['--chain-rpc', chain.rpc, '--chain-manifest', chain.manifest, '--chain-poll-ms', '100'] });
  const browser = await launch();
  try {
    const base = node.url;

    // --- the seller: free model, upload with progress and resume -------------
    const s = await newPage(browser);
    await register(s.page, base, 'sam_seller');
    await createListing(s, base, { title: 'Free Tiny', card: '---\ntask: text-classification\nlicense: mit\n---\n\n# Free Tiny\n\nA free model.' });
    expectClean(s, 'create the free listing');

    // The first piece goes through; every later PATCH is cut, as a dropped
    // connection would be. The page is reloaded while the UI retries.
    let patches = 0;
    await s.page.route('**/api/v1/uploads/*', (route) => {
      if (route.request().method() !== 'PATCH') return route.continue();
      patches += 1;
      return patches === 1 ? route.continue() : route.abort('connectionreset');
    });
    // A file on disk, so that choosing it again gives the same name, size
    // and modification time, as it would for a user.
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'agora-upload-'));
    const freeFile = path.join(tmp, 'free.onnx');
    writeFileSync(freeFile, FREE_BYTES);
    await s.page.setInputFiles('.version-row[data-version="1.0.0"] input[type=file]', freeFile);
    await s.page.waitForSelector('.upload-row >> text=/Connection lost; retrying/');
    const pct = Number(await s.page.getAttribute('.upload-row .progress', 'aria-valuenow'));
    check(pct >= 40 && pct < 100, `the progress bar shows the first piece (${pct}%)`);
    await s.page.unroute('**/api/v1/uploads/*');
    s.take(); // the cut requests were provoked on purpose
    await s.page.reload();
    await settle(s.page);
    await s.page.waitForSelector('.pending-upload >> text=free.onnx');
    const offsets = [];
    s.page.on('request', (r) => {
      if (r.method() === 'PATCH') offsets.push(Number(r.headers()['upload-offset']));
    });
    await s.page.setInputFiles('.version-row[data-version="1.0.0"] input[type=file]', freeFile);
    await s.page.waitForSelector('.version-files >> text=free.onnx', { timeout: 60000 });
    check(offsets.join() === [4, 8].map((m) => m * 1024 * 1024).join(), `the upload resumed at the node's offset (PATCHes at ${offsets.join()})`);
    check(await s.page.locator('.pending-upload').count() === 0, 'the finished upload is no longer pending');
    rmSync(tmp, { recursive: true, force: true });
    await s.page.click('button[aria-label="Publish version 1.0.0"]');
    await s.page.waitForSelector('.version-row[data-version="1.0.0"] >> text=Published');
    await settle(s.page);
    expectClean(s, 'upload, resume and publish the free model');

    // found through search, its page, its file downloads byte for byte
    await visit(s.page, base, '#/explore?q=free%20tiny');
    await s.page.click('a:has-text("Free Tiny")');
    await s.page.waitForSelector('h1:has-text("Free Tiny")');
    await settle(s.page);
    const got = await download(s.page, 'a.file-download[aria-label^="Download free.onnx"]');
    check(got.length === FREE_BYTES.length && sha(got) === sha(FREE_BYTES), 'the free file downloads intact');
    expectClean(s, 'search, model page and download');

    // --- the seller: a paid model on-chain from a burner wallet --------------
    const samAddr = await burnerWithFaucet(s, base);
    await s.page.click('#link-btn');
    await s.page.waitForSelector('#link-state >> text=This wallet is linked');
    await createListing(s, base, { title: 'Paid Tiny', price: '5' });
    await uploadAndPublish(s, 'paid.onnx', PAID_BYTES);
    await s.page.click('#publish-chain');
    await s.page.waitForSelector('.toast >> text=Published on-chain and indexed by the node.', { timeout: 60000 });
    await s.page.waitForSelector('#chain-state >> text=/token #1, owned by .*; 1 version on-chain; price 5 AGR/');
    await shoot(s, 'edit-onchain');
    await s.page.click('#publish-chain');
    await s.page.waitForSelector('text=The chain already has everything');
    expectClean(s, 'publish on-chain');

    // --- the buyer: burner, faucet, buy, download, verified review -----------
    const b = await newPage(browser);
    await register(b.page, base, 'bea_buyer');
    await burnerWithFaucet(b, base);
    await shoot(b, 'wallet');
    await visit(b.page, base, '#/m/sam_seller/paid-tiny');
    check(await b.page.locator('text=Licence needed').count() === 1, 'the paid file is locked before buying');
    check((await b.page.textContent('aside .buy-btn')).includes('5 AGR'), 'the price comes from the chain');
    await shoot(b, 'model-buy');
    await b.page.click('aside .buy-btn');
    await b.page.waitForSelector('aside .buy-step[data-step="indexing"].active, aside .buy-step[data-step="indexing"].done, #licence-badge', { timeout: 60000 });
    await b.page.waitForSelector('#licence-badge', { timeout: 90000 });
    await settle(b.page);
    const paid = await download(b.page, 'a.file-download[aria-label^="Download paid.onnx"]');
    check(sha(paid) === sha(PAID_BYTES), 'the bought file downloads and decrypts to the uploaded bytes');
    check(await b.page.locator('#review-verified-note').count() === 1, 'the review form says the review is verified');
    await b.page.click('label[for="rating-5"]');
    await b.page.fill('#review-form [name=body]', 'Bought it, works.');
    await b.page.click('#review-form button[type=submit]');
    await b.page.waitForSelector('#review-list >> text=Bought it, works.');
    check(await b.page.locator('#review-list .review:has-text("Bought it") >> text=Verified licence').count() === 1, 'the review is verified');
    await shoot(b, 'model-licensed');
    expectClean(b, 'buy, download, review');

    await visit(b.page, base, '#/library');
    await b.page.waitForSelector('#library-list >> text=sam_seller/paid-tiny');
    const again = await download(b.page, '#library-list a.file-download');
    check(sha(again) === sha(PAID_BYTES), 'the library downloads the bought file');
    await b.page.waitForSelector('.library-item[data-purchase="1"] .open-dispute');
    check((await b.page.textContent('.library-item[data-purchase="1"]')).includes('You can dispute this purchase until'), 'the library shows the dispute window');
    await shoot(b, 'library');

    // --- the seller's dashboard: the sale, then withdraw after escrow --------
    await visit(s.page, base, '#/dashboard');
    await s.page.waitForSelector('#sales-table >> text=sam_seller/paid-tiny');
    check(await s.page.textContent('#stat-sales') === '1', 'one licence sold');
    check(await s.page.textContent('#stat-gross') === '5 AGR', 'gross sales');
    check(await s.page.textContent('#stat-earned') === '4.875 AGR', 'the seller earns the price less the 2.5% fee');
    await s.page.waitForSelector('#withdraw-note >> text=/in escrow until/');
    check(await s.page.isDisabled('#withdraw-btn'), 'nothing to withdraw during the escrow window');
    await s.page.waitForFunction(() => document.querySelector('#revenue-chart')?.getAttribute('height') > 0);
    await shoot(s, 'dashboard');
    await rpc(chain.rpc, 'evm_increaseTime', [3 * 86400 + 60]);
    await rpc(chain.rpc, 'evm_mine', []);
    // The buyer's library, loaded inside the window, still offers a dispute:
    // the contract refuses it now, and the UI says why by the error's name.
    await b.page.click('.library-item[data-purchase="1"] .open-dispute');
    await b.page.fill('.library-item[data-purchase="1"] .dispute-form textarea[name=reason]', 'Too late, but trying.');
    await b.page.click('.library-item[data-purchase="1"] .dispute-form button[type=submit]');
    await b.page.waitForSelector('.library-item[data-purchase="1"] .dispute-form .alert-danger >> text=/dispute window of this purchase closed on/');
    check(await b.page.locator('.library-item[data-purchase="1"] .buy-step[data-step="send"].failed').count() === 1, 'the failed step is marked');
    expectClean(b, 'a dispute after the window is refused (DisputeWindowClosed)');
    await b.page.reload();
    await settle(b.page);
    await b.page.waitForSelector('.library-item[data-purchase="1"] >> text=/dispute window closed on/');
    check(await b.page.locator('.library-item[data-purchase="1"] .open-dispute').count() === 0, 'no dispute offered after the window');
    await s.page.click('a[href="#/wallet"]');
    await settle(s.page);
    await s.page.click('a[href="#/dashboard"]');
    await settle(s.page);
    await s.page.waitForSelector('#withdraw-btn:has-text("Withdraw 4.875 AGR"):not([disabled])');
    await s.page.click('#withdraw-btn');
    await s.page.waitForSelector('text=Withdrawn to your wallet.');
    await s.page.waitForSelector('#sales-table .badge:text-is("Active")');
    await s.page.waitForSelector('#withdraw-btn:has-text("Nothing to withdraw yet")[disabled]');
    const tokenBal = await rpc(chain.rpc, 'eth_call', [{ to: JSON.parse(readFileSync(chain.manifest, 'utf8')).contracts.AgoraToken.address, data: `0x70a08231${samAddr.slice(2).toLowerCase().padStart(64, '0')}` }, 'latest']);
    check(BigInt(tokenBal) === 1000n * 10n ** 18n + 4875n * 10n ** 15n, `the seller's wallet got the earnings (${BigInt(tokenBal)})`);
    expectClean(s, 'dashboard and withdraw');

    // --- a browser wallet (EIP-1193): sign in with it, faucet, buy ------------
    // The injected provider is anvil's own wallet (its unlocked development
    // accounts sign personal_sign, eth_signTypedData_v4 and
    // eth_sendTransaction), reached through a function the test exposes:
    // the page itself may only talk to its node.
    const c = await newPage(browser);
    const [deployerAddr, , , carlAddr] = await rpc(chain.rpc, 'eth_accounts');
    await injectWallet(c.context, chain.rpc, carlAddr);
    await visit(c.page, base, '#/login');
    await c.page.click('button:has-text("Sign in with your browser wallet")');
    await c.page.waitForSelector('#logout', { state: 'attached' });
    await settle(c.page);
    await c.page.waitForSelector(`#linked-wallets >> text=${carlAddr.toLowerCase()}`);
    await visit(c.page, base, '#/wallet');
    check((await c.page.textContent('#wallet-address')).toLowerCase() === carlAddr.toLowerCase(), 'the browser wallet reconnects without a prompt');
    check(await c.page.locator('text=Browser wallet').count() > 0, 'the wallet page says which wallet');
    await c.page.click('#faucet-btn');
    await c.page.waitForSelector('text=Sent 1,000 AGR to your wallet.');
    await visit(c.page, base, '#/m/sam_seller/paid-tiny');
    await c.page.click('aside .buy-btn');
    await c.page.waitForSelector('#licence-badge', { timeout: 90000 });
    check(await c.page.locator('aside .buy-step[data-step="link"]').count() === 0, 'a wallet that signed in is linked already');
    expectClean(c, 'browser wallet: sign in, faucet, buy');
    await s.page.reload();
    await settle(s.page);
    await s.page.waitForFunction(() => document.querySelector('#stat-sales')?.textContent === '2');
    check(await s.page.textContent('#stat-escrow') === '4.875 AGR', 'the second sale is in escrow');

    // --- a dispute: the buyer disputes, the arbitrator refunds ----------------
    const agr = async (addr) => BigInt(await rpc(chain.rpc, 'eth_call', [{ to: JSON.parse(readFileSync(chain.manifest, 'utf8')).contracts.AgoraToken.address, data: `0x70a08231${addr.slice(2).toLowerCase().padStart(64, '0')}` }, 'latest']));
    const carlBefore = await agr(carlAddr);
    const fileUrl = `${base}/api/v1/models/sam_seller/paid-tiny/versions/1.0.0/files/paid.onnx`;
    const REASON = 'The weights are not what the card promised: accuracy 12% on the stated benchmark, not 91%.';
    const item = '.library-item[data-purchase="2"]';
    await visit(c.page, base, '#/library');
    const stale = await secondTab(c); // a second tab, left open before the dispute
    await visit(stale, base, '#/library');
    await c.page.waitForSelector(`${item} .open-dispute`);
    await c.page.click(`${item} .open-dispute`);
    check(await c.page.evaluate(() => document.activeElement?.name === 'reason'), 'opening the form focuses the reason');
    // The reason is checked as the contract checks it, beside the field.
    await c.page.click(`${item} .dispute-form button[type=submit]`);
    await c.page.waitForSelector(`${item} textarea[name=reason][aria-invalid="true"]`);
    check((await c.page.textContent(`${item} .dispute-form .invalid-feedback`)).includes('Say why'), 'an empty reason is refused beside the field');
    await c.page.fill(`${item} textarea[name=reason]`, '\u00e9'.repeat(513));
    await c.page.click(`${item} .dispute-form button[type=submit]`);
    await c.page.waitForSelector(`${item} .dispute-form .invalid-feedback >> text=/1,026 bytes long; at most 1,024/`);
    await c.page.fill(`${item} textarea[name=reason]`, REASON);
    await shootBoth(c, 'library-dispute-form');
    await c.page.click(`${item} .dispute-form button[type=submit]`);
    await c.page.waitForSelector(`${item} .dispute-state[data-ruling="pending"]`, { timeout: 90000 });
    check(await c.page.textContent(`${item} .status-badge`) === 'Disputed', 'the library marks the purchase disputed');
    check((await c.page.textContent(`${item} .dispute-reason`)).includes(REASON), 'the library shows the reason');
    check((await c.page.textContent(`${item} .dispute-state`)).includes('Dispute #1'), 'the library names the dispute');
    check(await c.page.evaluate(() => document.activeElement?.classList.contains('dispute-state')), 'focus moves to the dispute state');
    await shootBoth(c, 'library-disputed');
    await shootDark(c, 'library-disputed');
    const during = await c.context.request.get(fileUrl);
    check(during.status() === 200 && sha(await during.body()) === sha(PAID_BYTES), `the licence stands while the dispute is open (${during.status()})`);
    // The tab left open still offers the form: the contract refuses a second dispute.
    await stale.click(`${item} .open-dispute`);
    await stale.fill(`${item} textarea[name=reason]`, 'Once more.');
    await stale.click(`${item} .dispute-form button[type=submit]`);
    await stale.waitForSelector(`${item} .dispute-form .alert-danger >> text=This purchase is already disputed`);
    await stale.close();
    expectClean(c, 'open a dispute');

    // The seller sees the sale disputed, with the reason.
    await visit(s.page, base, '#/dashboard');
    await s.page.waitForSelector('#disputed-note');
    const saleRow = '#sales-table tr:has(.dispute-note:has-text("Dispute #1"))';
    check((await s.page.textContent(`${saleRow} .status-badge`)) === 'Disputed', 'the dashboard marks the sale disputed');
    check((await s.page.textContent(`${saleRow} .dispute-reason`)).includes(REASON), 'the dashboard shows the buyer\u2019s reason');
    check(await s.page.textContent('#stat-escrow') === '4.875 AGR', 'the disputed sale stays counted in escrow');
    await shoot(s, 'dashboard-disputed');
    await shootDark(s, 'dashboard-disputed');
    check(await s.page.locator('#arbitrator-card').count() === 0, 'the seller is not offered the arbitrator\u2019s view');
    check(await s.page.isHidden('#nav-disputes'), 'no Disputes link in the seller\u2019s menu');
    expectClean(s, 'the dashboard shows the dispute');

    // A wallet without the role sees why it cannot rule.
    await visit(c.page, base, '#/disputes');
    await c.page.waitForSelector('#not-arbitrator');
    check((await c.page.textContent('#not-arbitrator')).toLowerCase().includes(deployerAddr.toLowerCase()), 'the view names the arbitrator');
    check(await c.page.isHidden('#nav-disputes'), 'no Disputes link in the buyer\u2019s menu');
    await shoot(c, 'disputes-not-arbitrator');

    // The arbitrator: the deployer's account in a browser wallet, not signed in.
    const a = await newPage(browser);
    await injectWallet(a.context, chain.rpc, deployerAddr);
    await visit(a.page, base, '#/wallet');
    await a.page.click('#connect-injected');
    await a.page.waitForSelector('#wallet-address');
    await a.page.waitForSelector('#arbitrator-card');
    check(await a.page.isVisible('#nav-disputes a[href="#/disputes"]'), 'the arbitrator\u2019s menu gains a Disputes link');
    await a.page.click('#arbitrator-card a[href="#/disputes"]');
    await settle(a.page);
    await a.page.waitForSelector('.dispute-card[data-dispute="1"]');
    check(await a.page.getAttribute('#nav-disputes a', 'aria-current') === 'page', 'the Disputes link is the current page');
    await a.page.reload();
    check(await a.page.isVisible('#nav-disputes a'), 'the Disputes link is remembered');
    await settle(a.page);
    await a.page.waitForSelector('.dispute-card[data-dispute="1"]');
    const card = await a.page.textContent('.dispute-card[data-dispute="1"]');
    check(card.includes(REASON) && card.includes('sam_seller/paid-tiny') && card.includes('#2, 5 AGR'), `the arbitrator sees the dispute (${card})`);
    await shootBoth(a, 'disputes');
    const staleArb = await secondTab(a);
    await visit(staleArb, base, '#/disputes');
    await staleArb.waitForSelector('.dispute-card[data-dispute="1"] .rule-release');
    await a.page.click('.dispute-card[data-dispute="1"] .rule-refund');
    await a.page.waitForSelector('#ruled-disputes tr[data-dispute="1"] >> text=Refunded', { timeout: 60000 });
    check(await a.page.locator('.dispute-card').count() === 0, 'nothing left to rule');
    await shoot(a, 'disputes-ruled');
    await staleArb.click('.dispute-card[data-dispute="1"] .rule-release');
    await staleArb.waitForSelector('.dispute-card[data-dispute="1"] .alert-danger >> text=Dispute #1 has already been ruled.');
    await staleArb.close();
    expectClean(a, 'the arbitrator rules refund');

    // The buyer: repaid, the licence revoked, the download refused.
    check(await agr(carlAddr) === carlBefore + 5n * 10n ** 18n, 'the refund returned the 5 AGR to the buyer\u2019s wallet');
    for (let i = 0; i < 120; i += 1) {
      const r = await c.context.request.get(`${base}/api/v1/library`);
      if ((await r.json()).items.some((x) => String(x.purchase_id) === '2' && x.status === 'refunded')) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    const after = await c.context.request.get(fileUrl);
    check(after.status() === 403, `the node refuses the refunded buyer's download (${after.status()})`);
    await visit(c.page, base, '#/library');
    await c.page.waitForSelector(`${item} .dispute-state[data-ruling="refund"]`);
    check(await c.page.textContent(`${item} .status-badge`) === 'Refunded', 'the library says Refunded');
    check(await c.page.locator(`${item} a.file-download`).count() === 0, 'no download link after the refund');
    check((await c.page.textContent(`${item}`)).includes('Download refused: licence revoked'), 'the library says the download is refused');
    await shootBoth(c, 'library-refunded');
    await shootDark(c, 'library-refunded');
    await visit(c.page, base, '#/m/sam_seller/paid-tiny');
    await c.page.waitForSelector('#refund-note');
    check(await c.page.locator('text=Licence needed').count() === 1, 'the model page locks the file again');
    expectClean(c, 'the buyer after the refund');
    await visit(s.page, base, '#/dashboard');
    await s.page.waitForSelector(`${saleRow} .status-badge:text-is("Refunded")`);
    check(await s.page.textContent('#stat-sales') === '1', 'the refunded sale no longer counts');
    check((await s.page.textContent(saleRow)).includes('refunded to the buyer'), 'the dashboard shows the ruling');
    expectClean(s, 'the seller after the refund');

    // --- the new pages at phone width ----------------------------------------
    for (const [who, pages] of [[s, [['wallet', '#/wallet'], ['dashboard', '#/dashboard']]],
      [b, [['library', '#/library'], ['model-licensed', '#/m/sam_seller/paid-tiny']]]]) {
      await who.page.setViewportSize({ width: 390, height: 844 });
      for (const [name, hash] of pages) {
        await visit(who.page, base, hash);
        await shoot(who, name, { phone: true });
      }
    }
    // signed out: the Buy box asks to log in; a burner made before signing
    // in, then Sign-In with Ethereum with it, then the relay under the new
    // session (its CSRF token is read at each request)
    const anon = await newPage(browser, { phone: true });
    await visit(anon.page, base, '#/m/sam_seller/paid-tiny');
    await anon.page.waitForSelector('text=Log in to buy');
    await shoot(anon, 'model-buy-signed-out', { phone: true });
    await visit(anon.page, base, '#/wallet');
    await anon.page.click('#connect-burner');
    await anon.page.waitForFunction(() => document.querySelector('#bal-agr')?.textContent === '0 AGR');
    await shoot(anon, 'wallet-signed-out', { phone: true });
    await visit(anon.page, base, '#/login');
    await anon.page.waitForSelector('#siwe-burner');
    await shoot(anon, 'login-wallet', { phone: true });
    await anon.page.click('#siwe-burner');
    await anon.page.waitForSelector('#logout', { state: 'attached' });
    await settle(anon.page);
    check(/^eth-[0-9a-f]{12}$/.test((await anon.page.textContent('#nav-user a[data-nav="me"]')).trim()), 'SIWE made an eth- account');
    await visit(anon.page, base, '#/wallet');
    await anon.page.waitForSelector('#link-state >> text=This wallet is linked');
    await anon.page.waitForFunction(() => document.querySelector('#bal-agr')?.textContent === '0 AGR');
    expectClean(anon, 'burner before login, SIWE sign-in, relay under the session');
  } catch (err) {
    // What each page showed when it failed, beside the screenshots.
    for (const [i, ctx] of browser.contexts().entries()) {
      for (const [j, pg] of ctx.pages().entries()) {
        await pg.screenshot({ path: path.join(outDir(), `market-failure-${i}-${j}.png`), fullPage: true }).catch(() => {});
      }
    }
    throw err;
  } finally {
    await browser.close();
    await node.stop();
    await chain.stop();
  }
});
