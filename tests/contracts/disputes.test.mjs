// disputes.test.mjs - disputes on a real dev chain: opening in and out of the window, both rulings,
// who may rule, and the ArbitrationPanel (ERC-792-style arbitrator contract) holding the role.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseEther, MaxUint256 } from 'ethers';
import {
  startChain, freshSet, devWallet, expectRevert, mined, eventsOf, newModel, increaseTime, mineAt,
} from './lib.mjs';

const WINDOW = 3n * 24n * 3600n;
const REFUND = 1n;
const RELEASE = 2n;

let chain, gov, seller, buyer, parentOwner, stranger, arb2;

before(async () => {
  chain = await startChain();
  const w = (i) => devWallet(chain.provider, i);
  [gov, seller, buyer, parentOwner, stranger, arb2] = [w(0), w(1), w(2), w(3), w(4), w(5)];
});
after(() => chain?.stop());

// A fresh deployment (EOA arbitrator, or the panel) reverted to its snapshot per test. Reverting
// to a snapshot drops every later one, so the panel deployment (made after the EOA one) is used
// only by the last test.
const fresh = {};

// A fresh deployment with one sale in escrow: returns {set, id, pid, price, releaseAt}.
async function sale(opts = {}) {
  const key = opts.arbitrator || 'eoa';
  fresh[key] ??= freshSet(chain.provider, { disputeWindow: WINDOW, ...opts },
    (s) => mined(s.token.transfer(buyer.address, parseEther('100'))));
  const set = await fresh[key]();
  const parent = await newModel(set.registry, parentOwner, 'pat/base');
  const id = await newModel(set.registry, seller, 'sam/model', [parent]);
  const price = parseEther('20');
  await mined(set.market.connect(seller).setPrice(id, price));
  await mined(set.token.connect(buyer).approve(set.market.target, MaxUint256));
  const rc = await mined(set.market.connect(buyer).buy(id, price));
  const ev = eventsOf(set.market, rc, 'LicensePurchased')[0].args;
  return { set, id, pid: ev.purchaseId, price, releaseAt: ev.releaseAt };
}

test('a buyer opens a dispute within the window: escrow frozen, event carries the reason', async () => {
  const { set, id, pid, releaseAt } = await sale();
  const m = set.market;
  await expectRevert(m.connect(stranger).openDispute(pid, 'not mine'), 'NotBuyer', [pid, stranger.address]);
  await expectRevert(m.connect(seller).openDispute(pid, 'seller cannot'), 'NotBuyer', [pid, seller.address]);
  await expectRevert(m.connect(buyer).openDispute(pid, ''), 'InvalidReason', [0n, 1024n]);
  await expectRevert(m.connect(buyer).openDispute(pid, 'x'.repeat(1025)), 'InvalidReason', [1025n, 1024n]);
  await expectRevert(m.connect(buyer).openDispute(77n, 'x'), 'PurchaseNotFound', [77n]);
  await mineAt(chain.provider, releaseAt - 120n); // late, but inside the window
  const reason = 'the weights do not match the advertised sha256 ✗';
  const rc = await mined(m.connect(buyer).openDispute(pid, reason));
  const [ev] = eventsOf(m, rc, 'DisputeOpened');
  assert.equal(ev.args.disputeId, 1n);
  assert.equal(ev.args.purchaseId, pid);
  assert.equal(ev.args.buyer, buyer.address);
  assert.equal(ev.args.modelId, id);
  assert.equal(ev.args.reason, reason);
  const p = await m.getPurchase(pid);
  assert.equal(p.status, 2n, 'Disputed');
  assert.equal(p.disputeId, 1n);
  const d = await m.getDispute(1n);
  assert.equal(d.purchaseId, pid);
  assert.equal(d.ruling, 0n);
  assert.equal(await m.hasLicense(id, buyer.address), true, 'the licence holds while the dispute is pending');
  await expectRevert(m.connect(buyer).openDispute(pid, 'again'), 'NotEscrowed', [pid, 2n]);
  // frozen: the window passes, still nobody can release
  await increaseTime(chain.provider, WINDOW);
  await expectRevert(m.release(pid), 'NotEscrowed', [pid, 2n]);
  await expectRevert(m.getDispute(2n), 'DisputeNotFound', [2n]);
});

test('a dispute after the window is refused', async () => {
  const { set, pid, releaseAt } = await sale();
  await mineAt(chain.provider, releaseAt);
  await expectRevert(set.market.connect(buyer).openDispute(pid, 'too late'), 'DisputeWindowClosed', [pid, releaseAt]);
  // once released it is not escrowed any more
  await mined(set.market.release(pid));
  await expectRevert(set.market.connect(buyer).openDispute(pid, 'too late'), 'NotEscrowed', [pid, 3n]);
});

test('ruling refund: the buyer gets every wei back and loses the licence; nobody is credited', async () => {
  const { set, id, pid, price } = await sale();
  const m = set.market;
  const before = await set.token.balanceOf(buyer.address);
  await mined(m.connect(buyer).openDispute(pid, 'broken model'));
  const rc = await mined(m.rule(1n, REFUND));
  const [ruling] = eventsOf(m, rc, 'Ruling');
  assert.equal(ruling.args.arbitrator, gov.address);
  assert.equal(ruling.args.disputeId, 1n);
  assert.equal(ruling.args.ruling, REFUND);
  const [ruled] = eventsOf(m, rc, 'DisputeRuled');
  assert.equal(ruled.args.purchaseId, pid);
  const [refund] = eventsOf(m, rc, 'PurchaseRefunded');
  assert.equal(refund.args.amount, price);
  assert.equal(await set.token.balanceOf(buyer.address), before + price);
  assert.equal(await m.hasLicense(id, buyer.address), false);
  assert.equal(await m.licensePurchaseId(id, buyer.address), 0n);
  assert.equal((await m.getPurchase(pid)).status, 4n, 'Refunded');
  for (const who of [seller, gov, parentOwner]) assert.equal(await m.balanceOf(who.address), 0n);
  assert.equal(await set.token.balanceOf(m.target), 0n);
  assert.equal(await m.totalEscrowed(), 0n);
  await expectRevert(m.rule(1n, RELEASE), 'AlreadyRuled', [1n]);
  await expectRevert(m.release(pid), 'NotEscrowed', [pid, 4n]);
  // the buyer may buy again later
  await mined(m.connect(buyer).buy(id, price));
  assert.equal(await m.hasLicense(id, buyer.address), true);
});

test('ruling release: settled at once, before the window ends, and withdrawable', async () => {
  const { set, id, pid, price } = await sale();
  const m = set.market;
  await mined(m.connect(buyer).openDispute(pid, 'I changed my mind'));
  const rc = await mined(m.rule(1n, RELEASE));
  assert.equal(eventsOf(m, rc, 'PurchaseReleased').length, 1);
  assert.equal(eventsOf(m, rc, 'RoyaltyCredited').length, 1);
  assert.equal((await m.getPurchase(pid)).status, 3n, 'Released');
  assert.equal(await m.hasLicense(id, buyer.address), true);
  const fee = (price * 250n) / 10000n;
  const royalty = (price * 500n) / 10000n;
  assert.equal(await m.balanceOf(seller.address), price - fee - royalty);
  assert.equal(await m.balanceOf(parentOwner.address), royalty);
  const before = await set.token.balanceOf(seller.address);
  await mined(m.connect(seller).withdraw());
  assert.equal(await set.token.balanceOf(seller.address), before + price - fee - royalty);
});

test('only the arbitrator rules, with a valid ruling, on an existing dispute', async () => {
  const { set, pid } = await sale();
  const m = set.market;
  await mined(m.connect(buyer).openDispute(pid, 'bad'));
  await expectRevert(m.connect(stranger).rule(1n, REFUND), 'NotArbitrator', [stranger.address]);
  await expectRevert(m.connect(buyer).rule(1n, REFUND), 'NotArbitrator', [buyer.address]);
  await expectRevert(m.connect(seller).rule(1n, RELEASE), 'NotArbitrator', [seller.address]);
  await expectRevert(m.rule(1n, 0n), 'InvalidRuling', [0n]);
  await expectRevert(m.rule(1n, 3n), 'InvalidRuling', [3n]);
  await expectRevert(m.rule(9n, REFUND), 'DisputeNotFound', [9n]);
  // governance hands the role over; the pending dispute goes with it
  assert.equal(await m.arbitratorIsContract(), false, 'an EOA arbitrator is not notified');
  await mined(m.setArbitrator(arb2.address));
  await expectRevert(m.rule(1n, REFUND), 'NotArbitrator', [gov.address]);
  await mined(m.connect(arb2).rule(1n, REFUND));
  assert.equal((await m.getDispute(1n)).ruling, REFUND);
});

test('an ArbitrationPanel contract holds the arbitrator role (ERC-792 style)', async () => {
  const { set, id, pid, price } = await sale({ arbitrator: 'panel' });
  const { market: m, panel } = set;
  assert.equal(await m.arbitrator(), panel.target);
  assert.equal(await m.arbitratorIsContract(), true, 'the panel is detected through ERC-165');
  assert.equal(await panel.isArbiter(gov.address), true);
  // IArbitrator and IERC165 via ERC-165
  const iface = panel.interface;
  const ifaceId = ['notifyDispute'].map((n) => BigInt(iface.getFunction(n).selector)).reduce((a, b) => a ^ b, 0n);
  assert.equal(await panel.supportsInterface('0x' + ifaceId.toString(16).padStart(8, '0')), true);
  assert.equal(await panel.supportsInterface('0x01ffc9a7'), true);
  assert.equal(await panel.supportsInterface('0xdeadbeef'), false);

  const rc = await mined(m.connect(buyer).openDispute(pid, 'fake accuracy claims'));
  const [created] = eventsOf(panel, rc, 'DisputeCreation');
  assert.equal(created.args.disputeId, 1n);
  assert.equal(created.args.arbitrable, m.target);
  const c = await panel.getCase(m.target, 1n);
  assert.equal(c.choices, 2n);
  // a notifyDispute from elsewhere cannot overwrite the marketplace's case
  await expectRevert(panel.connect(stranger).notifyDispute(1n, 0n, '0x'), 'InvalidChoices', [0n]);

  await expectRevert(panel.connect(stranger).giveRuling(m.target, 1n, REFUND), 'NotArbiter', [stranger.address]);
  await expectRevert(panel.giveRuling(m.target, 1n, 3n), 'RulingOutOfRange', [3n, 2n]);
  await expectRevert(panel.connect(stranger).setArbiter(stranger.address, true), 'NotGovernance', [stranger.address]);
  // arbiters are appointed by the panel's governance; a direct rule() to the market is refused
  await mined(panel.setArbiter(arb2.address, true));
  await expectRevert(m.connect(arb2).rule(1n, REFUND), 'NotArbitrator', [arb2.address]);
  const before = await set.token.balanceOf(buyer.address);
  const r = await mined(panel.connect(arb2).giveRuling(m.target, 1n, REFUND));
  assert.equal(eventsOf(panel, r, 'RulingGiven')[0].args.arbiter, arb2.address);
  assert.equal(eventsOf(m, r, 'Ruling')[0].args.arbitrator, panel.target);
  assert.equal(await set.token.balanceOf(buyer.address), before + price);
  assert.equal(await m.hasLicense(id, buyer.address), false);
  const ruled = await panel.getCase(m.target, 1n);
  assert.equal(ruled.ruling, REFUND);
  assert.equal(ruled.ruledBy, arb2.address);
  await expectRevert(panel.giveRuling(m.target, 1n, RELEASE), 'CaseRuled', [m.target, 1n]);
  // removing an arbiter takes effect at once
  await mined(panel.setArbiter(arb2.address, false));
  await expectRevert(panel.connect(arb2).giveRuling(m.target, 2n, REFUND), 'NotArbiter', [arb2.address]);
  // a contract without IArbitrator (the token) is a plain arbitrator address; set through a gas
  // estimate, the panel is detected again (the ERC-165 probe is never starved)
  await mined(m.setArbitrator(set.token.target));
  assert.equal(await m.arbitratorIsContract(), false);
  await mined(m.setArbitrator(panel.target));
  assert.equal(await m.arbitratorIsContract(), true);
  // starved of gas, the ERC-165 probe would read "not a contract arbitrator": refused instead
  await expectRevert(m.setArbitrator.staticCall(panel.target, { gasLimit: 50000 }), 'InsufficientGas');
  // a case is opened once per (arbitrable, dispute id): another contract's notice is its own
  await mined(panel.connect(stranger).notifyDispute(9n, 2n, '0x'));
  await expectRevert(panel.connect(stranger).notifyDispute(9n, 2n, '0x'), 'CaseExists', [stranger.address, 9n]);
  // the panel's governance hands over (e.g. to a Timelock): the old one loses the right at once
  await expectRevert(panel.connect(stranger).setGovernance(stranger.address), 'NotGovernance', [stranger.address]);
  await expectRevert(panel.setGovernance('0x' + '00'.repeat(20)), 'ZeroAddress');
  const g = await mined(panel.setGovernance(arb2.address));
  assert.equal(eventsOf(panel, g, 'GovernanceSet')[0].args[0], arb2.address);
  assert.equal(await panel.governance(), arb2.address);
  await expectRevert(panel.setArbiter(stranger.address, true), 'NotGovernance', [gov.address]);
  await mined(panel.connect(arb2).setArbiter(stranger.address, true));
  assert.equal(await panel.isArbiter(stranger.address), true);
});
