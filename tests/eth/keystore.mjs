// keystore.mjs - ethers decrypts our keystore files and we decrypt ethers' (light scrypt N for speed).
import { Wallet, encryptKeystoreJsonSync, decryptKeystoreJsonSync } from 'ethers';
import { mkdtempSync, readFileSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool, check, done } from './lib.mjs';

const dir = mkdtempSync(join(tmpdir(), 'agora-ks-'));
const PASSWORDS = ['testpassword', '', 'correct horse battery staple', 'pässwörd ✓', 'x'.repeat(200)];
const wallets = PASSWORDS.map(() => Wallet.createRandom());

// ours -> ethers
const enc = tool('keystore-encrypt', wallets.map((w, i) => ({ key: w.privateKey, password: PASSWORDS[i], n: 1024, dir, file: `k${i}.json` })));
enc.forEach((ks, i) => {
  check(!ks.error, `encrypt ${i}: ${ks.error}`);
  const path = join(dir, `k${i}.json`);
  check((statSync(path).mode & 0o777) === 0o600, `file ${i} mode is not 0600`);
  const text = readFileSync(path, 'utf8');
  check(JSON.stringify(JSON.parse(text)) === JSON.stringify(ks), `file ${i} differs from the returned document`);
  const acct = decryptKeystoreJsonSync(text, PASSWORDS[i]);
  check(acct.privateKey === wallets[i].privateKey, `ethers decrypted ${i} to another key`);
  check(acct.address === wallets[i].address, `ethers address ${i}`);
  let refused = false;
  try { decryptKeystoreJsonSync(text, PASSWORDS[i] + '!'); } catch { refused = true; }
  check(refused, `ethers accepted a wrong password for ${i}`);
});

// ethers -> ours
const theirs = wallets.map((w, i) => encryptKeystoreJsonSync({ address: w.address, privateKey: w.privateKey }, PASSWORDS[i], { scrypt: { N: 1024 } }));
const dec = tool('keystore-decrypt', theirs.map((json, i) => ({ json, password: PASSWORDS[i] })));
dec.forEach((k, i) => check(k === wallets[i].privateKey, `we decrypted ethers' ${i} to ${JSON.stringify(k)}`));
const wrong = tool('keystore-decrypt', theirs.map((json) => ({ json, password: 'nope' })));
wrong.forEach((r, i) => check(r.error && /passphrase/.test(r.error), `wrong password ${i}: ${JSON.stringify(r)}`));
// ethers' default-cost keystore (N = 2^17) through Wallet.encryptSync
const heavy = wallets[0].encryptSync('testpassword');
check(tool('keystore-decrypt', [{ json: heavy, password: 'testpassword' }])[0] === wallets[0].privateKey, 'default-cost ethers keystore');
rmSync(dir, { recursive: true, force: true });
done('keystore', enc.length + dec.length + wrong.length + 1);
