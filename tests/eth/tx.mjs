// tx.mjs - our signed EIP-1559 and EIP-155 transactions equal ethers' byte for byte,
// and our decoder reads ethers' transactions (sender recovered).
import { Transaction, SigningKey, Wallet, getAddress } from 'ethers';
import { tool, check, done, rng, seed, hex } from './lib.mjs';

const R = rng(seed());
const pick = (a) => a[R.int(a.length)];
// A quantity with a random bit length, including 0 and the extremes.
const qty = (maxBits) => {
  const bits = pick([0, 1, 8, 31, 32, 33, 63, 64, 65, 128, maxBits, R.int(maxBits + 1)]);
  return bits === 0 ? 0n : R.big(Math.min(bits, maxBits)) | (1n << BigInt(Math.min(bits, maxBits) - 1));
};

const cases = [];
const txs = [];
for (let i = 0; i < 300; i++) {
  const key = new SigningKey(hex(R.bytes(32)));
  const legacy = i % 5 === 4;
  const fields = {
    type: legacy ? 0 : 2,
    chainId: pick([1n, 5n, 10n, 137n, 31337n, 11155111n, BigInt(R.int(2 ** 31) + 1)]),
    nonce: qty(52),  // ethers keeps nonces as JS numbers
    gasLimit: qty(63),
    to: R.int(10) === 0 ? null : getAddress(hex(R.bytes(20))),
    value: qty(256),
    data: hex(R.bytes(pick([0, 1, 4, 36, 55, 56, 200, 1000]))),
  };
  if (legacy) {
    fields.gasPrice = qty(256);
  } else {
    let [tip, max] = [qty(256), qty(256)];
    if (tip > max) [tip, max] = [max, tip];
    fields.maxPriorityFeePerGas = tip;
    fields.maxFeePerGas = max;
    fields.accessList = [];
    for (let j = R.int(3); j > 0; j--) {
      const keys = [];
      for (let k = R.int(3); k > 0; k--) keys.push(hex(R.bytes(32)));
      fields.accessList.push({ address: getAddress(hex(R.bytes(20))), storageKeys: keys });
    }
  }
  const tx = Transaction.from(fields);
  tx.signature = key.sign(tx.unsignedHash);
  txs.push(tx);
  const c = { key: key.privateKey };
  for (const [k, v] of Object.entries(fields)) c[k] = typeof v === 'bigint' ? v.toString() : v;
  cases.push(c);
}

const ours = tool('sign-tx', cases);
ours.forEach((r, i) => {
  check(!r.error, `case ${i}: ${r.error}`);
  check(r.raw === txs[i].serialized, `case ${i}: raw differs\n ours   ${r.raw}\n ethers ${txs[i].serialized}`);
  check(r.hash === txs[i].hash, `case ${i}: hash differs`);
});

// A priority fee above the max fee is refused, as ethers refuses it.
const inverted = tool('sign-tx', [{ ...cases.find((c) => c.type === 2), maxPriorityFeePerGas: '2', maxFeePerGas: '1' }]);
check(inverted[0].error, 'priority fee above max fee accepted');

// Our decoder on ethers' bytes, including an ethers Wallet's own signing path.
const w = Wallet.createRandom();
const extra = await w.signTransaction({ type: 2, chainId: 31337, nonce: 3, gasLimit: 21000n,
  maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n, to: w.address, value: 12345n });
const decoded = tool('decode-tx', [...txs.map((t) => t.serialized), extra]);
decoded.forEach((d, i) => {
  const t = i < txs.length ? txs[i] : Transaction.from(extra);
  check(!d.error, `decode ${i}: ${d.error}`);
  check(d.from === t.from, `decode ${i}: sender ${d.from} != ${t.from}`);
  check(d.hash === t.hash, `decode ${i}: hash`);
  check(BigInt(d.nonce) === BigInt(t.nonce) && d.value === t.value.toString(), `decode ${i}: fields`);
});
// Malformed bytes are refused with an error, not a crash.
const bad = tool('decode-tx', ['0x02', '0x02c0', '0xf8', txs[0].serialized.slice(0, -2), '0x03c0']);
bad.forEach((d, i) => check(d.error, `malformed ${i} accepted`));
done('tx', cases.length + decoded.length);
