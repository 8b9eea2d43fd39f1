// test_flows.mjs - the marketplace in a real browser, end to end: one user
// registers, publishes a free listing with a card and a version, finds it
// through search and sees its page; a second user logs in, likes and
// reviews it; the first user's profile shows the review and reputation;
// API tokens are created and revoked through the UI. Hostile strings (raw
// HTML in the card, a <script> review) must come out as text.
import { check, launch, login, logout, newPage, register, run, settle, startNode, visit } from './lib.mjs';

const CARD = `---
task: text-classification
library: onnx
license: mit
tags: [sentiment, english]
datasets: [sst2]
---

# Tiny Sentiment

A small **sentiment** classifier.

<img src=x onerror="window.__xss = 'img'"><b>raw bold</b>
<script>window.__xss = 'script'</script>

[a bad link](javascript:window.__xss='link') and [a good one](https://example.org/docs).

| metric | value |
| --- | ---: |
| accuracy | 0.91 |
`;
const REVIEW = '<script>alert(1)</script> Works well on product reviews.';

function expectClean(p, where) {
  const problems = p.take();
  check(problems.length === 0, `${where}: ${problems.join('; ')}`);
}

run('browser.flows', async () => {
  const node = await startNode();
  const browser = await launch();
  try {
    const base = node.url;

    // --- the first user registers and publishes ---------------------------
    const a = await newPage(browser);
    await visit(a.page, base, '#/');
    check(await a.page.locator('text=Nothing here yet').count() === 1, 'an empty node shows one empty state');
    await register(a.page, base, 'alice_w');
    expectClean(a, 'register alice');

    await visit(a.page, base, '#/publish');
    await a.page.fill('#listing-form [name=title]', 'Tiny Sentiment!');
    check(await a.page.inputValue('#listing-form [name=slug]') === 'tiny-sentiment', 'the slug follows the title');
    await a.page.fill('#listing-form [name=title]', 'Tiny Sentiment');
    await a.page.fill('#listing-form [name=summary]', 'Binary sentiment for English product reviews.');
    await a.page.fill('#listing-form [name=card]', CARD);
    await a.page.waitForFunction(() => document.querySelector('#card-preview h2')?.textContent === 'Tiny Sentiment');
    check(await a.page.locator('#card-preview img, #card-preview script, #card-preview b').count() === 0,
      'live preview lets no raw HTML through');
    // A bad price is refused next to its field before anything is sent.
    await a.page.fill('#listing-form [name=price]', 'ten');
    await a.page.click('#listing-form button[type=submit]');
    await a.page.waitForSelector('#listing-form [name=price].is-invalid');
    await a.page.fill('#listing-form [name=price]', '0');
    await a.page.click('#listing-form button[type=submit]');
    await a.page.waitForURL(/#\/m\/alice_w\/tiny-sentiment\/edit$/);
    await settle(a.page);

    // Create a draft version, then publish it.
    await a.page.fill('#version-form [name=version]', '1.0.0');
    await a.page.fill('#version-form [name=changelog]', 'First release.');
    await a.page.click('#version-form button[type=submit]');
    await a.page.waitForSelector('.version-row[data-version="1.0.0"] >> text=Draft');
    await a.page.click('.version-row[data-version="1.0.0"] button:has-text("Publish")');
    await a.page.waitForSelector('.version-row[data-version="1.0.0"] >> text=Published');
    // A bad version string comes back from the API next to its field.
    await a.page.fill('#version-form [name=version]', 'not-a-version');
    await a.page.click('#version-form button[type=submit]');
    await a.page.waitForSelector('#version-form [name=version].is-invalid');
    const verMsg = await a.page.locator('#version-form [name=version] ~ .invalid-feedback').textContent();
    check(verMsg.trim().length > 0, 'the API message shows under the version field');
    a.take(); // the 400 just provoked is expected

    // --- search finds it (prefix), its page renders the card safely -------
    await visit(a.page, base, '#/explore?q=sentim');
    const tile = a.page.locator('.model-tile a', { hasText: 'Tiny Sentiment' });
    check(await tile.count() === 1, 'prefix search finds the new listing');
    check(await a.page.locator('#ex-summary').textContent() === '1 model for \u201csentim\u201d', 'result summary');
    check(await a.page.locator('.facet-list button', { hasText: 'text-classification' }).count() === 1, 'task facet');
    await tile.click();
    await a.page.waitForURL(/#\/m\/alice_w\/tiny-sentiment$/);
    await settle(a.page);
    const card = a.page.locator('#model-card');
    check(await card.locator('h2').textContent() === 'Tiny Sentiment', 'card heading rendered');
    check(await card.locator('strong').textContent() === 'sentiment', 'card emphasis rendered');
    check(await card.locator('table td.text-end').textContent() === '0.91', 'card table rendered with alignment');
    check(await card.locator('img, script, b, [onerror]').count() === 0, 'no raw HTML element in the card');
    const cardText = await card.textContent();
    check(cardText.includes('<img src=x onerror=') && cardText.includes('<script>'), 'raw HTML shows as text');
    check(await card.locator('a[href^="javascript"], a[href*="xss"]').count() === 0, 'javascript: link disarmed');
    check(cardText.includes('a bad link'), 'the disarmed link still reads as text');
    check(await card.locator('a', { hasText: 'a good one' }).getAttribute('href') === 'https://example.org/docs', 'https link kept');
    check(await a.page.evaluate(() => window.__xss) === undefined, 'nothing from the card ran');
    check(await a.page.locator('#versions >> text=v1.0.0').count() === 1, 'the published version is listed');
    check(await a.page.locator('text=sst2').count() >= 1, 'front matter fields shown as badges');
    check(await a.page.locator('#review-form').count() === 0, 'the owner gets no review form');
    expectClean(a, 'publish and view');

    // --- a second user: field errors, register, log out, log in ------------
    const b = await newPage(browser);
    await visit(b.page, base, '#/register');
    await b.page.fill('#register-form [name=username]', 'alice_w');
    await b.page.fill('#register-form [name=email]', 'other@example.org');
    await b.page.fill('#register-form [name=password]', 'correct horse battery');
    await b.page.click('#register-form button[type=submit]');
    await b.page.waitForSelector('#register-form .is-invalid');
    const taken = await b.page.locator('#register-form .is-invalid ~ .invalid-feedback, #register-form .form-alert').allTextContents();
    check(taken.join(' ').trim().length > 0, 'a taken username is explained');
    b.take(); // the 409 just provoked is expected
    await register(b.page, base, 'bob_r');
    await logout(b.page);
    await login(b.page, base, 'bob_r');
    expectClean(b, 'bob signs up and in');

    await visit(b.page, base, '#/m/alice_w/tiny-sentiment');
    await b.page.click('#like-btn');
    await b.page.waitForSelector('#like-btn[aria-pressed="true"]');
    check((await b.page.locator('#like-btn').textContent()).includes('1'), 'like count is 1');
    await b.page.click('label[for="rating-4"]');
    await b.page.fill('#review-form [name=body]', REVIEW);
    await b.page.click('#review-form button[type=submit]');
    await b.page.waitForSelector('#review-list .review');
    const review = b.page.locator('#review-list .review-body').first();
    check(await review.textContent() === REVIEW, 'the review shows as typed, as text');
    check(await b.page.locator('#review-list script').count() === 0, 'no script element from the review');
    check(await b.page.locator('#review-list .stars').first().getAttribute('aria-label') === 'Rated 4.0 out of 5', 'review stars');
    await b.page.reload();
    await settle(b.page);
    check(await b.page.locator('#like-btn[aria-pressed="true"]').count() === 1, 'like remembered after reload');
    expectClean(b, 'like and review');

    // --- the first user's profile shows the review and reputation ---------
    await visit(a.page, base, '#/u/alice_w');
    check(await a.page.locator('#received-reviews .review-body').first().textContent() === REVIEW, 'profile shows the review');
    check(await a.page.locator('#received-reviews a', { hasText: 'bob_r' }).count() === 1, 'profile names the reviewer');
    check((await a.page.locator('#rep-models .h4').textContent()).trim() === '1', 'reputation: one model');
    check((await a.page.locator('#rep-likes .h4').textContent()).trim() === '1', 'reputation: one like');
    const score = Number((await a.page.locator('#rep-score .h4').textContent()).trim());
    check(score > 0 && score <= 100, `reputation score in (0, 100]: ${score}`);
    check(await a.page.locator('#rep-rating >> text=4.0').count() === 1, 'reputation: rating 4.0');
    check(await a.page.evaluate(() => window.__xss) === undefined, 'nothing from the review ran');
    expectClean(a, 'profile');

    // --- API tokens: create (shown once), use, revoke ---------------------
    await visit(a.page, base, '#/account');
    await a.page.fill('#token-form [name=name]', 'ci runner');
    await a.page.click('#token-form button[type=submit]');
    await a.page.waitForSelector('#new-token');
    const token = await a.page.locator('#new-token').inputValue();
    check(/^agora_/.test(token), 'the new token is shown');
    await a.page.waitForSelector('#token-table >> text=ci runner');
    const me = await fetch(`${base}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    check(me.status === 200 && (await me.json()).user.username === 'alice_w', 'the token works');
    await a.page.click('#token-table button[aria-label="Revoke token ci runner"]');
    await a.page.waitForSelector('#token-table >> text=ci runner', { state: 'detached' });
    const after = await fetch(`${base}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    check(after.status === 401, 'the revoked token no longer works');
    await a.page.reload();
    await settle(a.page);
    check(await a.page.locator('#new-token').count() === 0, 'the secret is not shown again');
    expectClean(a, 'tokens');

    // --- edit profile; the page keeps the session across reloads -----------
    await visit(a.page, base, '#/settings/profile');
    await a.page.fill('#profile-form [name=display_name]', 'Alice <b>W</b>');
    await a.page.fill('#profile-form [name=links]', 'https://alice.example.org');
    await a.page.click('#profile-form button[type=submit]');
    await a.page.waitForURL(/#\/u\/alice_w$/);
    await settle(a.page);
    check(await a.page.locator('h1').textContent() === 'Alice <b>W</b>', 'display name shown as text');
    expectClean(a, 'edit profile');

    // --- a draft listing: the owner sees it, nobody else does -------------
    await visit(a.page, base, '#/publish');
    await a.page.fill('#listing-form [name=slug]', 'wip-model');
    await a.page.fill('#listing-form [name=title]', 'Work in progress');
    await a.page.selectOption('#listing-form [name=visibility]', 'draft');
    await a.page.click('#listing-form button[type=submit]');
    await a.page.waitForURL(/#\/m\/alice_w\/wip-model\/edit$/);
    await visit(a.page, base, '#/dashboard');
    check(await a.page.locator('#dash-table tr', { hasText: 'Work in progress' }).locator('text=draft').count() === 1,
      'the owner sees the draft on the dashboard');
    await visit(b.page, base, '#/u/alice_w');
    check(await b.page.locator('.model-tile', { hasText: 'Work in progress' }).count() === 0, 'others do not see the draft');
    await visit(b.page, base, '#/m/alice_w/wip-model');
    check(await b.page.locator('h1', { hasText: 'Model not found' }).count() === 1, 'the draft is not found for others');
    b.take(); // the 404 is the point
    expectClean(a, 'draft listing');

    // --- logging out ends the session on the node --------------------------
    await logout(a.page);
    await visit(a.page, base, '#/account');
    check(await a.page.locator('text=Log in to continue').count() === 1, 'signed out after log out');
    expectClean(a, 'log out');
    await a.context.close();
    await b.context.close();
  } finally {
    await browser.close();
    await node.stop();
  }
});
