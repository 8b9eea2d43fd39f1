// wallet.mjs - `agora wallet` (src/cli/cmd_wallet.c, the real agora binary) checked with ethers:
// keystores ethers can open, personal_sign signatures ethers verifies, balances from anvil.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync, readdirSync, readFileSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet, decryptKeystoreJsonSync, verifyMessage } from 'ethers';
import { check, done } from './lib.mjs';

const TOOL = process.env.AGORA_BIN;

const dir = mkdtempSync(join(tmpdir(), 'agora-wallet-'));
const ks = join(dir, 'keystore');
writeFileSync(join(dir, 'pw'), 'wallet test pass\n');
const env = { ...process.env, AGORA_KEYSTORE_DIR: ks };
delete env.AGORA_PASSPHRASE;
const run = (args, input) => spawnSync(TOOL, ['wallet', ...args], { env, input, encoding: 'utf8' });

const dev0 = new Wallet('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
let r = run(['import', '--passphrase-file', join(dir, 'pw'), '--scrypt-n', '1024'], dev0.privateKey.slice(2) + '\n');
check(r.status === 0 && r.stdout.trim() === dev0.address, `import: ${r.status} ${r.stdout} ${r.stderr}`);
r = run(['import', '--passphrase-file', join(dir, 'pw'), '--scrypt-n', '1024'], dev0.privateKey + '\n');
check(r.status === 1 && /already has a keystore/.test(r.stderr), 'importing twice is refused');
r = run(['address']);
check(r.status === 0 && r.stdout.trim() === dev0.address, 'address');
r = spawnSync(TOOL, ['wallet', 'new', '--scrypt-n', '1024'], { env: { ...env, AGORA_PASSPHRASE: 'env pass' }, encoding: 'utf8' });
check(r.status === 0 && /^0x[0-9a-fA-F]{40}$/.test(r.stdout.trim()), `new: ${r.stderr}`);
const fresh = r.stdout.trim();
r = run(['address']);
check(r.status === 1 && /several/.test(r.stderr), 'address is ambiguous with two keystores');
r = run(['list']);
check(r.status === 0 && r.stdout.includes(dev0.address) && r.stdout.includes(fresh), 'list');

// the files: mode 0600, and ethers opens them
for (const f of readdirSync(ks)) {
  const p = join(ks, f);
  check((statSync(p).mode & 0o777) === 0o600, `${f} mode`);
  const text = readFileSync(p, 'utf8');
  const pass = f.endsWith(dev0.address.slice(2).toLowerCase()) ? 'wallet test pass' : 'env pass';
  const acct = decryptKeystoreJsonSync(text, pass);
  check(f.endsWith(acct.address.slice(2).toLowerCase()), `${f} holds ${acct.address}`);
  if (acct.address === dev0.address) check(acct.privateKey === dev0.privateKey, 'imported key');
}

// personal_sign: ours verifies in ethers, and a wrong passphrase is refused
const msg = 'Agora wants you to prove you hold this key ✓';
r = run(['sign-message', '--from', dev0.address, '--passphrase-file', join(dir, 'pw'), msg]);
check(r.status === 0 && verifyMessage(msg, r.stdout.trim()) === dev0.address, `sign-message: ${r.stderr}`);
check(r.stdout.trim() === dev0.signMessageSync(msg), 'same signature as ethers (RFC 6979)');
r = spawnSync(TOOL, ['wallet', 'sign-message', '--from', dev0.address, msg], { env: { ...env, AGORA_PASSPHRASE: 'nope' }, encoding: 'utf8' });
check(r.status === 1 && /passphrase/.test(r.stderr), 'wrong passphrase refused');
r = run(['verify-message', '--address', dev0.address, '--signature', dev0.signMessageSync('hi'), 'hi']);
check(r.status === 0, 'verify-message of an ethers signature');

// balance from a live anvil
const port = await new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const anvil = spawn(join(process.env.AGORA_SRC, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil'), ['--port', String(port), '--silent'], { stdio: 'ignore' });
try {
  for (let i = 0; i < 200; i++) {
    r = run(['balance', dev0.address, '--rpc', `http://127.0.0.1:${port}`]);
    if (r.status === 0) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  check(r.stdout.trim() === `${dev0.address} 10000.000000000000000000 ETH (10000000000000000000000 wei)`, `balance: ${r.stdout} ${r.stderr}`);
  r = run(['balance', fresh, '--rpc', `http://127.0.0.1:${port}`]);
  check(r.stdout.trim() === `${fresh} 0.000000000000000000 ETH (0 wei)`, `zero balance: ${r.stdout}`);
} finally {
  anvil.kill('SIGTERM');
}
r = run(['bogus']);
check(r.status === 2, 'unknown subcommand is a usage error');
rmSync(dir, { recursive: true, force: true });
done('wallet', 12);
