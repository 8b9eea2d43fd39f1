// token.test.mjs - AgoraToken on real dev chains: ERC-20 basics, EIP-2612 permit, votes, and the faucet,
// which works only on chain ids 31337 and 1337 (checked on chains started with other chain ids).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseEther, ZeroAddress, ContractFactory } from 'ethers';
import {
  startChain, deploySet, devWallet, expectRevert, mined, eventsOf, signPermit, increaseTime, latestTimestamp, artifact,
  artifacts, DEV_CHAIN_ID,
} from './lib.mjs';

const DAY = 86400n;
let chain;

before(async () => { chain = await startChain(); });
after(() => chain?.stop());

async function deployToken(provider, supply, faucet) {
  const a = artifact('AgoraToken');
  const deployer = devWallet(provider, 0);
  const c = await new ContractFactory(a.abi, a.bytecode, deployer).deploy(deployer.address, supply, faucet);
  await c.waitForDeployment();
  return c;
}

test('ERC-20 metadata, initial supply and transfers', async () => {
  const { token, deployer } = await deploySet(chain.provider, { initialSupply: '5000' });
  assert.equal(await token.name(), 'Agora');
  assert.equal(await token.symbol(), 'AGR');
  assert.equal(await token.decimals(), 18n);
  assert.equal(await token.totalSupply(), parseEther('5000'));
  assert.equal(await token.balanceOf(deployer.address), parseEther('5000'));
  const to = devWallet(chain.provider, 3);
  const rc = await mined(token.transfer(to.address, parseEther('1.25')));
  assert.equal(eventsOf(token, rc, 'Transfer')[0].args.value, parseEther('1.25'));
  await expectRevert(token.connect(to).transfer(deployer.address, parseEther('2')), 'ERC20InsufficientBalance',
    [to.address, parseEther('1.25'), parseEther('2')]);
});

test('EIP-2612 permit: valid, expired, wrong signer, replayed', async () => {
  const { token } = await deploySet(chain.provider);
  const owner = devWallet(chain.provider, 4);
  const spender = devWallet(chain.provider, 5);
  const deadline = (await latestTimestamp(chain.provider)) + 3600n;
  const p = await signPermit(token, owner, spender.address, 777n, deadline);
  await mined(token.connect(spender).permit(owner.address, spender.address, 777n, p.deadline, p.v, p.r, p.s));
  assert.equal(await token.allowance(owner.address, spender.address), 777n);
  assert.equal(await token.nonces(owner.address), 1n);
  // replay: the nonce moved on, so the same signature recovers to someone else
  await expectRevert(token.permit(owner.address, spender.address, 777n, p.deadline, p.v, p.r, p.s), 'ERC2612InvalidSigner');
  const other = await signPermit(token, spender, spender.address, 1n, deadline);
  const dec = await expectRevert(token.permit(owner.address, spender.address, 1n, other.deadline, other.v, other.r, other.s), 'ERC2612InvalidSigner');
  assert.equal(dec.args[1], owner.address);
  const old = await signPermit(token, owner, spender.address, 1n, 10n);
  await expectRevert(token.permit(owner.address, spender.address, 1n, old.deadline, old.v, old.r, old.s), 'ERC2612ExpiredSignature', [10n]);
});

test('votes: delegation, transfers move voting power, past votes by block', async () => {
  const { token, deployer } = await deploySet(chain.provider, { initialSupply: '100' });
  const alice = devWallet(chain.provider, 6);
  assert.equal(await token.getVotes(deployer.address), 0n, 'no votes before delegating');
  const d = await mined(token.delegate(deployer.address));
  assert.equal(eventsOf(token, d, 'DelegateChanged').length, 1);
  assert.equal(await token.getVotes(deployer.address), parseEther('100'));
  await mined(token.connect(alice).delegate(alice.address));
  const t = await mined(token.transfer(alice.address, parseEther('40')));
  assert.equal(await token.getVotes(deployer.address), parseEther('60'));
  assert.equal(await token.getVotes(alice.address), parseEther('40'));
  await chain.provider.send('evm_mine', []);
  assert.equal(await token.getPastVotes(deployer.address, t.blockNumber - 1), parseEther('100'));
  assert.equal(await token.getPastVotes(alice.address, t.blockNumber), parseEther('40'));
  assert.equal(await token.CLOCK_MODE(), 'mode=blocknumber&from=default');
});

// ERC-5805 delegation by signature (EIP-712 "Delegation"): a holder delegates without sending a
// transaction; the signature is single-use (nonces shared with permit) and expires.
test('votes: delegateBySig, replayed and expired signatures refused', async () => {
  const { token, deployer } = await deploySet(chain.provider, { initialSupply: '100' });
  const holder = devWallet(chain.provider, 7);
  const delegatee = devWallet(chain.provider, 8);
  await mined(token.transfer(holder.address, parseEther('30')));
  const net = await chain.provider.getNetwork();
  const domain = { name: await token.name(), version: '1', chainId: net.chainId, verifyingContract: token.target };
  const types = { Delegation: [{ name: 'delegatee', type: 'address' }, { name: 'nonce', type: 'uint256' }, { name: 'expiry', type: 'uint256' }] };
  const sign = async (nonce, expiry) => {
    const sig = (await holder.signTypedData(domain, types, { delegatee: delegatee.address, nonce, expiry }));
    const { v, r, s } = (await import('ethers')).Signature.from(sig);
    return { v, r, s };
  };
  const expiry = (await latestTimestamp(chain.provider)) + 3600n;
  const nonce = await token.nonces(holder.address);
  const sig = await sign(nonce, expiry);
  // anyone may submit it: the deployer pays the gas, the holder's votes move
  const rc = await mined(token.connect(deployer).delegateBySig(delegatee.address, nonce, expiry, sig.v, sig.r, sig.s));
  assert.equal(eventsOf(token, rc, 'DelegateChanged')[0].args.delegator, holder.address);
  assert.equal(await token.delegates(holder.address), delegatee.address);
  assert.equal(await token.getVotes(delegatee.address), parseEther('30'));
  assert.equal(await token.nonces(holder.address), nonce + 1n);
  await expectRevert(token.delegateBySig(delegatee.address, nonce, expiry, sig.v, sig.r, sig.s), 'InvalidAccountNonce',
    [holder.address, nonce + 1n]);
  const old = await sign(nonce + 1n, 10n);
  await expectRevert(token.delegateBySig(delegatee.address, nonce + 1n, 10n, old.v, old.r, old.s), 'VotesExpiredSignature', [10n]);
});

test('faucet on the dev chain id: drips 1,000 AGR, once per day per address', async () => {
  const { token } = await deploySet(chain.provider);
  assert.equal(await token.faucetEnabled(), true, 'deploy.mjs enables it on dev chains');
  const user = devWallet(chain.provider, 7);
  const rc = await mined(token.connect(user).faucet(user.address));
  const [ev] = eventsOf(token, rc, 'FaucetDrip');
  assert.equal(ev.args.to, user.address);
  assert.equal(ev.args.amount, parseEther('1000'));
  assert.equal(await token.balanceOf(user.address), parseEther('1000'));
  const t0 = BigInt((await chain.provider.getBlock(rc.blockNumber)).timestamp);
  assert.equal(ev.args.nextAvailableAt, t0 + DAY);
  assert.equal(await token.faucetAvailableAt(user.address), t0 + DAY);
  await expectRevert(token.connect(user).faucet(user.address), 'FaucetCooldown', [user.address, t0 + DAY]);
  // the limit is per recipient, whoever sends the transaction
  await expectRevert(token.faucet(user.address), 'FaucetCooldown', [user.address, t0 + DAY]);
  await mined(token.faucet(devWallet(chain.provider, 8).address));
  await expectRevert(token.faucet(ZeroAddress), 'FaucetZeroAddress');
  await increaseTime(chain.provider, DAY);
  assert.equal(await token.faucetAvailableAt(user.address), 0n);
  await mined(token.connect(user).faucet(user.address));
  assert.equal(await token.balanceOf(user.address), parseEther('2000'));
});

test('faucet disabled by the constructor flag', async () => {
  const token = await deployToken(chain.provider, 0n, false);
  assert.equal(await token.faucetEnabled(), false);
  await expectRevert(token.faucet(devWallet(chain.provider, 1).address), 'FaucetDisabled');
  assert.equal(await token.totalSupply(), 0n);
});

test('faucet refused on a non-development chain id, allowed on the other dev id', async () => {
  artifacts();
  const mainnetLike = await startChain({ chainId: 5 });
  try {
    // the constructor refuses to enable it
    await expectRevert(deployToken(mainnetLike.provider, 0n, true), 'FaucetNotAllowedOnChain', [5n]);
    // deploy.mjs leaves it off there, and refuses --faucet on
    const set = await deploySet(mainnetLike.provider);
    assert.equal(set.manifest.chainId, 5);
    assert.equal(await set.token.faucetEnabled(), false);
    await expectRevert(set.token.faucet(set.deployer.address), 'FaucetDisabled');
    await assert.rejects(deploySet(mainnetLike.provider, { faucet: 'on' }), /only allowed on chain ids 31337 and 1337/);
  } finally {
    mainnetLike.stop();
  }
  // anvil's default is 31337 and Ganache's 1337: the faucet works on both ids, whichever chain runs
  const otherDevChain = await startChain({ chainId: DEV_CHAIN_ID === 1337 ? 31337 : 1337 });
  try {
    const token = await deployToken(otherDevChain.provider, 0n, true);
    const to = devWallet(otherDevChain.provider, 2).address;
    await mined(token.faucet(to));
    assert.equal(await token.balanceOf(to), parseEther('1000'));
  } finally {
    otherDevChain.stop();
  }
});
