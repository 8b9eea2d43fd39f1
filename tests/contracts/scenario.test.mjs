// scenario.test.mjs - a random mix of purchases, disputes, rulings, releases and withdrawals on a
// real dev chain, checking after every step that the books balance and every licence is as expected.
// The seed is printed; set CONTRACTS_SEED to replay a run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseEther, MaxUint256 } from 'ethers';
import { startChain, deploySet, devWallet, mined, eventsOf, newModel, increaseTime } from './lib.mjs';

const STEPS = 60;
let chain;

before(async () => { chain = await startChain(); });
after(() => chain?.stop());

function rng(seed) {
  let s = BigInt(seed) || 1n;
  return (n) => {
    s ^= (s << 13n) & 0xffffffffffffffffn;
    s ^= s >> 7n;
    s ^= (s << 17n) & 0xffffffffffffffffn;
    return Number(s % BigInt(n));
  };
}

test('random purchases, disputes and payouts keep the books exact', async () => {
  const seed = process.env.CONTRACTS_SEED ? Number(process.env.CONTRACTS_SEED) : randomBytes(4).readUInt32LE(0);
  console.log(`seed ${seed} (set CONTRACTS_SEED to replay)`);
  const rand = rng(seed);
  const window = 3600n;
  const set = await deploySet(chain.provider, { feeBps: 333, royaltyBps: 777, disputeWindow: window });
  const { token, registry, market } = set;
  const w = (i) => devWallet(chain.provider, i);
  const sellers = [w(1), w(2)];
  const buyers = [w(3), w(4), w(5), w(6)];
  const everyone = [set.deployer, ...sellers, ...buyers];
  for (const b of buyers) {
    await mined(token.transfer(b.address, parseEther('100000')));
    await mined(token.connect(b).approve(market.target, MaxUint256));
  }
  // a small lineage: m1, m2 roots; m3 from m1; m4 from m1+m2+m3
  const m1 = await newModel(registry, sellers[0], 's0/m1');
  const m2 = await newModel(registry, sellers[1], 's1/m2');
  const m3 = await newModel(registry, sellers[1], 's1/m3', [m1]);
  const m4 = await newModel(registry, sellers[0], 's0/m4', [m1, m2, m3]);
  const models = [m1, m2, m3, m4];
  const owner = { [m1]: sellers[0], [m2]: sellers[1], [m3]: sellers[1], [m4]: sellers[0] };

  // the model of expected state
  const credit = new Map(everyone.map((a) => [a.address, 0n]));
  const wallet = new Map();
  for (const a of everyone) wallet.set(a.address, await token.balanceOf(a.address));
  const licence = new Map(); // `${model}:${buyer}` -> purchase id
  const purchases = new Map(); // id -> {model, buyer, price, status, releaseAt, fee, royalty, recipients}
  let escrowed = 0n;

  const steps = { buy: 0, dispute: 0, refund: 0, releaseRuling: 0, release: 0, withdraw: 0, time: 0 };
  for (let step = 0; step < STEPS; step++) {
    const kind = rand(8);
    if (kind <= 2) { // buy
      const model = models[rand(4)];
      const b = buyers[rand(4)];
      if (licence.has(`${model}:${b.address}`)) continue;
      const price = BigInt(1 + rand(1_000_000)) * 10n ** BigInt(rand(17)); // at most 10,000 AGR; buyers hold 100,000
      await mined(market.connect(owner[model]).setPrice(model, price));
      const rc = await mined(market.connect(b).buy(model, price));
      const ev = eventsOf(market, rc, 'LicensePurchased')[0].args;
      const p = await market.getPurchase(ev.purchaseId);
      purchases.set(ev.purchaseId, { model, buyer: b, price, status: 1, releaseAt: ev.releaseAt, fee: ev.fee,
        royalty: ev.royalty, seller: owner[model], recipients: [...p.royaltyRecipients] });
      licence.set(`${model}:${b.address}`, ev.purchaseId);
      wallet.set(b.address, wallet.get(b.address) - price);
      escrowed += price;
      steps.buy++;
    } else if (kind === 3) { // dispute the latest still-open purchase, if its window is open
      const now = BigInt((await chain.provider.getBlock('latest')).timestamp);
      const open = [...purchases].filter(([, p]) => p.status === 1 && p.releaseAt > now + 5n);
      if (!open.length) continue;
      const [id, p] = open[rand(open.length)];
      await mined(market.connect(p.buyer).openDispute(id, `step ${step}`));
      p.status = 2;
      steps.dispute++;
    } else if (kind === 4) { // rule a pending dispute
      const pending = [...purchases].filter(([, p]) => p.status === 2);
      if (!pending.length) continue;
      const [id, p] = pending[rand(pending.length)];
      const ruling = 1 + rand(2);
      await mined(market.rule((await market.getPurchase(id)).disputeId, ruling));
      if (ruling === 1) {
        p.status = 4;
        licence.delete(`${p.model}:${p.buyer.address}`);
        wallet.set(p.buyer.address, wallet.get(p.buyer.address) + p.price);
        escrowed -= p.price;
        steps.refund++;
      } else {
        settle(p);
        steps.releaseRuling++;
      }
    } else if (kind === 5) { // release whatever is due
      const now = BigInt((await chain.provider.getBlock('latest')).timestamp);
      for (const [id, p] of purchases) {
        if (p.status === 1 && p.releaseAt < now) {
          await mined(market.release(id));
          settle(p);
          steps.release++;
        }
      }
    } else if (kind === 6) { // someone withdraws
      const a = everyone[rand(everyone.length)];
      const c = credit.get(a.address);
      if (c === 0n) continue;
      await mined(market.connect(a).withdraw());
      credit.set(a.address, 0n);
      wallet.set(a.address, wallet.get(a.address) + c);
      steps.withdraw++;
    } else { // time passes
      await increaseTime(chain.provider, BigInt(60 + rand(3600)));
      steps.time++;
    }

    // the chain agrees with the model after every step (reads sent concurrently)
    const [esc, totalOwed, held, credits, wallets, lic] = await Promise.all([
      market.totalEscrowed(), market.totalOwed(), token.balanceOf(market.target),
      Promise.all(everyone.map((a) => market.balanceOf(a.address))),
      Promise.all(everyone.map((a) => token.balanceOf(a.address))),
      Promise.all(models.flatMap((m) => buyers.map((b) => market.hasLicense(m, b.address)))),
    ]);
    assert.equal(esc, escrowed, `escrow at step ${step}`);
    let owed = 0n;
    everyone.forEach((a, i) => {
      assert.equal(credits[i], credit.get(a.address), `credit of ${a.address} at step ${step}`);
      assert.equal(wallets[i], wallet.get(a.address), `wallet of ${a.address} at step ${step}`);
      owed += credit.get(a.address);
    });
    assert.equal(totalOwed, owed);
    assert.equal(held, escrowed + owed, `solvent at step ${step}`);
    models.forEach((m, i) => buyers.forEach((b, j) => {
      assert.equal(lic[i * buyers.length + j], licence.has(`${m}:${b.address}`), `licence ${m} ${b.address} at step ${step}`);
    }));
  }
  console.log('steps', steps);
  assert.ok(steps.buy > 0, 'the run bought something');

  function settle(p) {
    p.status = 3;
    escrowed -= p.price;
    const seller = p.price - p.fee - p.royalty;
    credit.set(p.seller.address, credit.get(p.seller.address) + seller);
    credit.set(set.deployer.address, credit.get(set.deployer.address) + p.fee);
    if (p.recipients.length) {
      const share = p.royalty / BigInt(p.recipients.length);
      assert.equal(share * BigInt(p.recipients.length), p.royalty, 'royalty is a whole number of shares');
      for (const r of p.recipients) credit.set(r, credit.get(r) + share);
    }
    assert.equal(p.fee, (p.price * 333n) / 10000n, 'fee formula');
  }
});
