// market.test.mjs - Marketplace on a real dev chain: list-price and permit buys, signed quotes, fee and
// royalty arithmetic, escrow timing, withdrawals, governance setters; every revert's custom error.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { parseEther, ZeroAddress, TypedDataEncoder, MaxUint256 } from 'ethers';
import {
  startChain, freshSet, devWallet, expectRevert, mined, eventsOf, newModel, signPermit, signQuote,
  QUOTE_TYPES, increaseTime, latestTimestamp, mineAt,
} from './lib.mjs';

const FEE_BPS = 250n;
const ROYALTY_BPS = 500n;
const WINDOW = 3n * 24n * 3600n;

let chain, fresh, set, gov, seller, buyer, ownerA, ownerB, buyer2, stranger;

before(async () => {
  chain = await startChain();
  const w = (i) => devWallet(chain.provider, i);
  [gov, seller, buyer, ownerA, ownerB, buyer2, stranger] = [w(0), w(1), w(2), w(3), w(4), w(5), w(6)];
  fresh = freshSet(chain.provider, { feeBps: FEE_BPS, royaltyBps: ROYALTY_BPS, disputeWindow: WINDOW }, async (s) => {
    for (const b of [buyer, buyer2]) await mined(s.token.transfer(b.address, parseEther('1000')));
  });
});
after(() => chain?.stop());
beforeEach(async () => { set = await fresh(); });

// The split the contract must compute (docs/contracts.md, "Fee and royalty arithmetic").
function expectedSplit(price, nParents, feeBps = FEE_BPS, royaltyBps = ROYALTY_BPS) {
  const fee = (price * feeBps) / 10000n;
  const share = nParents ? (price * royaltyBps) / 10000n / BigInt(nParents) : 0n;
  const royalty = share * BigInt(nParents);
  return { fee, share, royalty, seller: price - fee - royalty };
}

async function listed(name, price, parents = []) {
  const id = await newModel(set.registry, seller, name, parents);
  await mined(set.market.connect(seller).setPrice(id, price));
  return id;
}

async function checkSolvent() {
  const held = await set.token.balanceOf(set.market.target);
  const owed = (await set.market.totalEscrowed()) + (await set.market.totalOwed());
  assert.equal(held, owed, 'marketplace holds exactly escrow + credited balances');
}

test('buy at the list price escrows the payment and grants the licence', async () => {
  const price = parseEther('12.5');
  const id = await listed('alice/m', price);
  assert.equal(await set.market.priceOf(id), price);
  await mined(set.token.connect(buyer).approve(set.market.target, price));
  const before = await set.token.balanceOf(buyer.address);
  const rc = await mined(set.market.connect(buyer).buy(id, price));
  const [ev] = eventsOf(set.market, rc, 'LicensePurchased');
  const exp = expectedSplit(price, 0);
  assert.equal(ev.args.modelId, id);
  assert.equal(ev.args.buyer, buyer.address);
  assert.equal(ev.args.price, price);
  assert.equal(ev.args.fee, exp.fee);
  assert.equal(ev.args.royalty, 0n);
  assert.equal(ev.args.purchaseId, 1n);
  assert.equal(ev.args.seller, seller.address);
  assert.equal(ev.args.versionIndex, 0n);
  const ts = BigInt((await chain.provider.getBlock(rc.blockNumber)).timestamp);
  assert.equal(ev.args.releaseAt, ts + WINDOW);
  assert.equal(await set.token.balanceOf(buyer.address), before - price);
  assert.equal(await set.token.balanceOf(set.market.target), price);
  assert.equal(await set.market.hasLicense(id, buyer.address), true);
  assert.equal(await set.market.hasLicense(id, buyer2.address), false);
  assert.equal(await set.market.licensePurchaseId(id, buyer.address), 1n);
  const p = await set.market.getPurchase(1n);
  assert.equal(p.status, 1n, 'Escrowed');
  assert.equal(p.buyer, buyer.address);
  assert.equal(p.price, price);
  await checkSolvent();
});

test('maxPrice below the list price reverts; so do unlisted, delisted and stale listings', async () => {
  const id = await listed('alice/m', parseEther('10'));
  await mined(set.token.connect(buyer).approve(set.market.target, MaxUint256));
  await expectRevert(set.market.connect(buyer).buy(id, parseEther('9.99')), 'PriceAboveMax', [parseEther('10'), parseEther('9.99')]);
  // the owner raises the price after the buyer looked: maxPrice protects the buyer
  await mined(set.market.connect(seller).setPrice(id, parseEther('11')));
  await expectRevert(set.market.connect(buyer).buy(id, parseEther('10')), 'PriceAboveMax', [parseEther('11'), parseEther('10')]);
  await mined(set.market.connect(seller).delist(id));
  await expectRevert(set.market.connect(buyer).buy(id, parseEther('100')), 'NotForSale', [id]);
  const unlisted = await newModel(set.registry, seller, 'alice/u');
  await expectRevert(set.market.connect(buyer).buy(unlisted, parseEther('100')), 'NotForSale', [unlisted]);
  await expectRevert(set.market.connect(buyer).buy(99n, parseEther('100')), 'NotForSale', [99n]);
  // a listing set by the previous owner is void after the token changes hands
  const t = await listed('alice/t', parseEther('1'));
  await mined(set.registry.connect(seller).transferFrom(seller.address, ownerA.address, t));
  assert.equal(await set.market.priceOf(t), 0n);
  await expectRevert(set.market.connect(buyer).buy(t, parseEther('1')), 'NotForSale', [t]);
  assert.equal(await set.market.purchaseCount(), 0n);
});

test('setPrice is owner-only and non-zero; buying needs a version, allowance, funds, and no licence yet', async () => {
  const id = await newModel(set.registry, seller, 'alice/m');
  await expectRevert(set.market.connect(stranger).setPrice(id, 1n), 'NotModelOwner', [id, stranger.address]);
  await expectRevert(set.market.connect(stranger).delist(id), 'NotModelOwner', [id, stranger.address]);
  await expectRevert(set.market.connect(seller).setPrice(id, 0n), 'ZeroPrice');
  await expectRevert(set.market.connect(seller).setPrice(77n, 1n), 'ModelNotFound', [77n]);
  const rc = await mined(set.market.connect(seller).setPrice(id, parseEther('5')));
  assert.equal(eventsOf(set.market, rc, 'PriceSet')[0].args.price, parseEther('5'));
  await expectRevert(set.market.connect(seller).buy(id, parseEther('5')), 'SellerCannotBuy', [id]);
  await expectRevert(set.market.connect(buyer).buy(id, parseEther('5')), 'ERC20InsufficientAllowance',
    [set.market.target, 0n, parseEther('5')]);
  await mined(set.token.connect(stranger).approve(set.market.target, MaxUint256));
  await expectRevert(set.market.connect(stranger).buy(id, parseEther('5')), 'ERC20InsufficientBalance',
    [stranger.address, 0n, parseEther('5')]);
  await mined(set.token.connect(buyer).approve(set.market.target, MaxUint256));
  await mined(set.market.connect(buyer).buy(id, parseEther('5')));
  await expectRevert(set.market.connect(buyer).buy(id, parseEther('5')), 'AlreadyLicensed', [id, buyer.address]);
  // registered and listed, but nothing published yet
  await mined(set.registry.connect(seller).registerModel('0x' + '11'.repeat(32), ''));
  const empty = await set.registry.totalModels();
  await mined(set.market.connect(seller).setPrice(empty, 1n));
  await expectRevert(set.market.connect(buyer).buy(empty, 1n), 'NoVersionPublished', [empty]);
});

test('buyWithPermit approves and buys in one transaction', async () => {
  const price = parseEther('3');
  const id = await listed('alice/p', price);
  assert.equal(await set.token.allowance(buyer.address, set.market.target), 0n);
  const deadline = (await latestTimestamp(chain.provider)) + 3600n;
  const maxPrice = parseEther('4');
  const p = await signPermit(set.token, buyer, set.market.target, maxPrice, deadline);
  const rc = await mined(set.market.connect(buyer).buyWithPermit(id, maxPrice, p.deadline, p.v, p.r, p.s));
  assert.equal(eventsOf(set.market, rc, 'LicensePurchased').length, 1);
  assert.equal(eventsOf(set.token, rc, 'Approval').length >= 1, true);
  assert.equal(await set.market.hasLicense(id, buyer.address), true);
  assert.equal(await set.token.allowance(buyer.address, set.market.target), maxPrice - price);
  assert.equal(await set.token.nonces(buyer.address), 1n);
  await checkSolvent();
});

test('buyWithPermit survives a front-run permit and fails cleanly with a bad one', async () => {
  const price = parseEther('2');
  const id = await listed('alice/p', price);
  const id2 = await listed('alice/q', price);
  const deadline = (await latestTimestamp(chain.provider)) + 3600n;
  const p = await signPermit(set.token, buyer, set.market.target, price, deadline);
  // someone submits the permit first: the signature is spent, the allowance is in place
  await mined(set.token.connect(stranger).permit(buyer.address, set.market.target, price, p.deadline, p.v, p.r, p.s));
  await mined(set.market.connect(buyer).buyWithPermit(id, price, p.deadline, p.v, p.r, p.s));
  assert.equal(await set.market.hasLicense(id, buyer.address), true);
  // a permit signed by someone else grants nothing: the transfer reverts with the token's error
  const bad = await signPermit(set.token, buyer2, set.market.target, price, deadline);
  await expectRevert(set.market.connect(buyer).buyWithPermit(id2, price, bad.deadline, bad.v, bad.r, bad.s),
    'ERC20InsufficientAllowance', [set.market.target, 0n, price]);
  // an expired permit likewise
  const old = await signPermit(set.token, buyer, set.market.target, price, 1n);
  await expectRevert(set.market.connect(buyer).buyWithPermit(id2, price, old.deadline, old.v, old.r, old.s),
    'ERC20InsufficientAllowance', [set.market.target, 0n, price]);
});

test('signed quotes: valid, expired, wrong signer, tampered, wrong buyer, replayed nonce', async () => {
  const id = await listed('alice/q', parseEther('10'));
  await mined(set.token.connect(buyer).approve(set.market.target, MaxUint256));
  await mined(set.token.connect(buyer2).approve(set.market.target, MaxUint256));
  const now = await latestTimestamp(chain.provider);
  const q = { modelId: id, buyer: buyer.address, price: parseEther('7'), expiry: now + 600n, nonce: 42n };
  const sig = await signQuote(set.market, gov, q);
  // the contract's digest is the EIP-712 hash ethers computes
  const { chainId } = await chain.provider.getNetwork();
  const domain = { name: 'AgoraMarketplace', version: '1', chainId, verifyingContract: set.market.target };
  assert.equal(await set.market.quoteDigest(q), TypedDataEncoder.hash(domain, QUOTE_TYPES, q));

  await expectRevert(set.market.connect(buyer2).buyWithQuote(q, sig), 'QuoteWrongBuyer', [buyer.address, buyer2.address]);
  const wrong = await signQuote(set.market, stranger, q);
  await expectRevert(set.market.connect(buyer).buyWithQuote(q, wrong), 'InvalidQuoteSignature');
  await expectRevert(set.market.connect(buyer).buyWithQuote({ ...q, price: parseEther('1') }, sig), 'InvalidQuoteSignature');
  await expectRevert(set.market.connect(buyer).buyWithQuote(q, '0x1234'), 'InvalidQuoteSignature');

  const rc = await mined(set.market.connect(buyer).buyWithQuote(q, sig));
  const [ev] = eventsOf(set.market, rc, 'LicensePurchased');
  assert.equal(ev.args.price, parseEther('7'), 'the quoted price, not the list price');
  const [red] = eventsOf(set.market, rc, 'QuoteRedeemed');
  assert.equal(red.args.nonce, 42n);
  assert.equal(red.args.purchaseId, ev.args.purchaseId);
  assert.equal(await set.market.quoteNonceUsed(42n), true);
  assert.equal(await set.market.hasLicense(id, buyer.address), true);

  // replay of the same nonce, even in a different quote for another buyer
  const q2 = { ...q, buyer: buyer2.address };
  await expectRevert(set.market.connect(buyer2).buyWithQuote(q2, await signQuote(set.market, gov, q2)), 'QuoteAlreadyUsed', [42n]);

  // expired: chain time passes the expiry
  const q3 = { modelId: id, buyer: ZeroAddress, price: parseEther('5'), expiry: now + 1000n, nonce: 43n };
  const sig3 = await signQuote(set.market, gov, q3);
  await mineAt(chain.provider, now + 1001n);
  const dec = await expectRevert(set.market.connect(buyer2).buyWithQuote(q3, sig3), 'QuoteExpired');
  assert.equal(dec.args[0], now + 1000n);
  assert.ok(dec.args[1] > now + 1000n);
});

test('open quotes, unlisted models, signer rotation, and buyWithQuotePermit', async () => {
  const id = await newModel(set.registry, seller, 'alice/unlisted');
  await mined(set.token.connect(buyer).approve(set.market.target, MaxUint256));
  const now = await latestTimestamp(chain.provider);
  const open = { modelId: id, buyer: ZeroAddress, price: parseEther('1'), expiry: now + 600n, nonce: 1n };
  await mined(set.market.connect(buyer).buyWithQuote(open, await signQuote(set.market, gov, open)));
  assert.equal(await set.market.hasLicense(id, buyer.address), true, 'a quote sells an unlisted model');

  // rotating the pricing signer voids the old signer's quotes
  await mined(set.market.setPricingSigner(stranger.address));
  const q = { modelId: id, buyer: buyer2.address, price: parseEther('2'), expiry: now + 600n, nonce: 2n };
  await expectRevert(set.market.connect(buyer2).buyWithQuote(q, await signQuote(set.market, gov, q)), 'InvalidQuoteSignature');
  const sig = await signQuote(set.market, stranger, q);
  const p = await signPermit(set.token, buyer2, set.market.target, q.price, now + 600n);
  const rc = await mined(set.market.connect(buyer2).buyWithQuotePermit(q, sig, p.deadline, p.v, p.r, p.s));
  assert.equal(eventsOf(set.market, rc, 'LicensePurchased')[0].args.price, parseEther('2'));
  assert.equal(await set.market.hasLicense(id, buyer2.address), true);
  await checkSolvent();
});

test('fee and royalties split exactly, with the division dust going to the seller', async () => {
  const a = await newModel(set.registry, ownerA, 'anna/base');
  const b = await newModel(set.registry, ownerB, 'ben/data');
  const c = await newModel(set.registry, ownerB, 'ben/extra');
  const price = parseEther('1') + 7n; // awkward: nothing divides evenly
  const id = await listed('alice/derived', price, [a, b, c]);
  const exp = expectedSplit(price, 3);
  const view = await set.market.quoteSplit(id, price);
  assert.equal(view.fee, exp.fee);
  assert.equal(view.royalty, exp.royalty);
  assert.equal(view.sellerAmount, exp.seller);
  assert.equal(view.fee + view.royalty + view.sellerAmount, price);

  await mined(set.token.connect(buyer).approve(set.market.target, price));
  const rc = await mined(set.market.connect(buyer).buy(id, price));
  const [ev] = eventsOf(set.market, rc, 'LicensePurchased');
  assert.equal(ev.args.fee, exp.fee);
  assert.equal(ev.args.royalty, exp.royalty);
  const pid = ev.args.purchaseId;
  const purchase = await set.market.getPurchase(pid);
  assert.deepEqual([...purchase.royaltyModelIds], [a, b, c]);
  assert.deepEqual([...purchase.royaltyRecipients], [ownerA.address, ownerB.address, ownerB.address]);

  await increaseTime(chain.provider, WINDOW);
  const rel = await mined(set.market.connect(stranger).release(pid));
  const [r] = eventsOf(set.market, rel, 'PurchaseReleased');
  assert.equal(r.args.sellerAmount, exp.seller);
  const credits = eventsOf(set.market, rel, 'RoyaltyCredited');
  assert.deepEqual(credits.map((x) => [x.args.parentModelId, x.args.recipient, x.args.amount]),
    [[a, ownerA.address, exp.share], [b, ownerB.address, exp.share], [c, ownerB.address, exp.share]]);
  assert.equal(await set.market.balanceOf(seller.address), exp.seller);
  assert.equal(await set.market.balanceOf(gov.address), exp.fee, 'the treasury (deployer) holds the fee');
  assert.equal(await set.market.balanceOf(ownerA.address), exp.share);
  assert.equal(await set.market.balanceOf(ownerB.address), exp.share * 2n);
  const credited = exp.seller + exp.fee + exp.share * 3n;
  assert.equal(credited, price, 'every wei is accounted for');
  await checkSolvent();

  // pull payments: each withdraws its own credit, the marketplace ends empty
  for (const [w, amount] of [[seller, exp.seller], [gov, exp.fee], [ownerA, exp.share], [ownerB, exp.share * 2n]]) {
    const before = await set.token.balanceOf(w.address);
    const wr = await mined(set.market.connect(w).withdraw());
    assert.equal(eventsOf(set.market, wr, 'Withdrawn')[0].args.amount, amount);
    assert.equal(await set.token.balanceOf(w.address), before + amount);
  }
  assert.equal(await set.token.balanceOf(set.market.target), 0n);
  await expectRevert(set.market.connect(seller).withdraw(), 'NothingToWithdraw', [seller.address]);
});

test('split arithmetic holds over many prices, fees and parent counts', async () => {
  const parents = [];
  for (let i = 0; i < 4; i++) parents.push(await newModel(set.registry, ownerA, `anna/p${i}`));
  const models = [];
  for (let n = 0; n <= 4; n++) models.push(await newModel(set.registry, seller, `alice/n${n}`, parents.slice(0, n)));
  const prices = [1n, 3n, 99n, 10001n, 123456789n, parseEther('0.3') + 1n, 2n ** 200n + 12345n];
  for (const [feeBps, royaltyBps] of [[250n, 500n], [0n, 0n], [1000n, 1000n], [1n, 999n]]) {
    await mined(set.market.setFee(feeBps));
    await mined(set.market.setRoyalty(royaltyBps));
    const cases = [];
    for (let n = 0; n <= 4; n++) for (const price of prices) cases.push([n, price]);
    const results = await Promise.all(cases.map(([n, price]) => set.market.quoteSplit(models[n], price)));
    for (const [i, [n, price]] of cases.entries()) {
      const exp = expectedSplit(price, n, feeBps, royaltyBps);
      const got = results[i];
      assert.equal(got.fee, exp.fee, `fee ${price} ${feeBps}`);
      assert.equal(got.royalty, exp.royalty, `royalty ${price} n=${n}`);
      assert.equal(got.fee + got.royalty + got.sellerAmount, price, 'sum');
      assert.ok(got.fee * 10000n <= price * feeBps, 'fee never above the rate');
      assert.ok(got.royalty * 10000n <= price * royaltyBps, 'royalty never above the cap');
    }
  }
});

test('escrow: locked during the window, released after it, once; fee changes do not touch escrowed sales', async () => {
  const price = parseEther('10');
  const id = await listed('alice/e', price);
  await mined(set.token.connect(buyer).approve(set.market.target, price));
  const rc = await mined(set.market.connect(buyer).buy(id, price));
  const { purchaseId, releaseAt } = eventsOf(set.market, rc, 'LicensePurchased')[0].args;
  await mined(set.market.setFee(1000n)); // later change; the sale keeps 2.5%
  await expectRevert(set.market.release(purchaseId), 'EscrowLocked', [purchaseId, releaseAt]);
  await mineAt(chain.provider, releaseAt - 60n);
  await expectRevert(set.market.release(purchaseId), 'EscrowLocked', [purchaseId, releaseAt]);
  await expectRevert(set.market.connect(seller).withdraw(), 'NothingToWithdraw', [seller.address]);
  await mineAt(chain.provider, releaseAt);
  await mined(set.market.connect(seller).release(purchaseId));
  await expectRevert(set.market.release(purchaseId), 'NotEscrowed', [purchaseId, 3n]);
  await expectRevert(set.market.release(999n), 'PurchaseNotFound', [999n]);
  const exp = expectedSplit(price, 0);
  assert.equal(await set.market.balanceOf(seller.address), exp.seller);
  assert.equal((await set.market.getPurchase(purchaseId)).status, 3n, 'Released');
  assert.equal(await set.market.hasLicense(id, buyer.address), true, 'the licence stays after release');
  await checkSolvent();
});

test('claim releases several sales and withdraws in one transaction', async () => {
  const price = parseEther('4');
  const ids = [await listed('alice/c1', price), await listed('alice/c2', price)];
  await mined(set.token.connect(buyer).approve(set.market.target, MaxUint256));
  const pids = [];
  for (const id of ids) {
    const rc = await mined(set.market.connect(buyer).buy(id, price));
    pids.push(eventsOf(set.market, rc, 'LicensePurchased')[0].args.purchaseId);
  }
  await expectRevert(set.market.connect(seller).claim(pids), 'EscrowLocked');
  await increaseTime(chain.provider, WINDOW);
  const before = await set.token.balanceOf(seller.address);
  const rc = await mined(set.market.connect(seller).claim(pids));
  assert.equal(eventsOf(set.market, rc, 'PurchaseReleased').length, 2);
  const exp = expectedSplit(price, 0);
  assert.equal(await set.token.balanceOf(seller.address), before + 2n * exp.seller);
  assert.equal(await set.token.balanceOf(set.market.target), 2n * exp.fee, 'only the unclaimed fees remain');
  await checkSolvent();
});

test('governance-only setters, their caps, and the two-step governance transfer', async () => {
  const m = set.market;
  const calls = [
    ['setFee', [100n]], ['setRoyalty', [100n]], ['setDisputeWindow', [3600n]], ['setTreasury', [stranger.address]],
    ['setPricingSigner', [stranger.address]], ['setArbitrator', [stranger.address]], ['transferGovernance', [stranger.address]],
  ];
  for (const [fn, args] of calls) {
    await expectRevert(m.connect(stranger)[fn](...args), 'NotGovernance', [stranger.address]);
  }
  await expectRevert(m.setFee(1001n), 'FeeTooHigh', [1001n, 1000n]);
  await expectRevert(m.setRoyalty(1001n), 'RoyaltyTooHigh', [1001n, 1000n]);
  await expectRevert(m.setDisputeWindow(30n * 86400n + 1n), 'DisputeWindowTooLong', [30n * 86400n + 1n, 30n * 86400n]);
  for (const fn of ['setTreasury', 'setPricingSigner', 'setArbitrator']) await expectRevert(m[fn](ZeroAddress), 'ZeroAddress');

  const events = [
    ['setFee', [1000n], 'FeeSet', 'feeBps'], ['setRoyalty', [0n], 'RoyaltySet', 'royaltyBps'],
    ['setDisputeWindow', [3600n], 'DisputeWindowSet', 'disputeWindow'], ['setTreasury', [ownerA.address], 'TreasurySet', 'treasury'],
    ['setPricingSigner', [ownerB.address], 'PricingSignerSet', 'pricingSigner'], ['setArbitrator', [buyer2.address], 'ArbitratorSet', 'arbitrator'],
  ];
  for (const [fn, args, ev, getter] of events) {
    const rc = await mined(m[fn](...args));
    assert.equal(String(eventsOf(m, rc, ev)[0].args[0]), String(args[0]), ev);
    assert.equal(String(await m[getter]()), String(args[0]), getter);
  }

  await mined(m.transferGovernance(stranger.address));
  assert.equal(await m.pendingGovernance(), stranger.address);
  assert.equal(await m.governance(), gov.address, 'unchanged until accepted');
  await expectRevert(m.connect(buyer).acceptGovernance(), 'NotPendingGovernance', [buyer.address]);
  const rc = await mined(m.connect(stranger).acceptGovernance());
  assert.equal(eventsOf(m, rc, 'GovernanceTransferred')[0].args.newGovernance, stranger.address);
  assert.equal(await m.governance(), stranger.address);
  assert.equal(await m.pendingGovernance(), ZeroAddress);
  await expectRevert(m.setFee(0n), 'NotGovernance', [gov.address]);
  await mined(m.connect(stranger).setFee(0n));
  assert.equal(await m.feeBps(), 0n);
  // the fee goes to the treasury current at settlement
  const id = await listed('alice/g', 10000n);
  await mined(m.connect(stranger).setFee(1000n));
  await mined(set.token.connect(buyer).approve(m.target, 10000n));
  const b = await mined(m.connect(buyer).buy(id, 10000n));
  await increaseTime(chain.provider, 3600n);
  await mined(m.release(eventsOf(m, b, 'LicensePurchased')[0].args.purchaseId));
  assert.equal(await m.balanceOf(ownerA.address), 1000n);
});
