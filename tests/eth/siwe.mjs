// siwe.mjs - EIP-4361 messages signed by ethers (personal_sign) verify in C, and C's verify in ethers.
import { Wallet, verifyMessage } from 'ethers';
import { tool, check, done, rng, seed } from './lib.mjs';

const R = rng(seed());
const pick = (a) => a[R.int(a.length)];

// The EIP's message template, written independently of the C formatter.
function siweText(f) {
  let s = `${f.scheme ? f.scheme + '://' : ''}${f.domain} wants you to sign in with your Ethereum account:\n${f.address}\n\n`;
  if (f.statement) s += `${f.statement}\n`;
  s += `\nURI: ${f.uri}\nVersion: 1\nChain ID: ${f.chainId}\nNonce: ${f.nonce}\nIssued At: ${f.issuedAt}`;
  if (f.expirationTime) s += `\nExpiration Time: ${f.expirationTime}`;
  if (f.notBefore) s += `\nNot Before: ${f.notBefore}`;
  if (f.requestId !== undefined) s += `\nRequest ID: ${f.requestId}`;
  if (f.resources && f.resources.length) s += `\nResources:${f.resources.map((r) => `\n- ${r}`).join('')}`;
  return s;
}

const NOW = Math.floor(Date.parse('2026-11-25T16:30:00Z') / 1000);
const iso = (t) => new Date(t * 1000).toISOString();
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const nonce = () => Array.from({ length: 8 + R.int(20) }, () => ALNUM[R.int(ALNUM.length)]).join('');

const cases = [];
const wallets = [];
for (let i = 0; i < 40; i++) {
  const w = Wallet.createRandom();
  wallets.push(w);
  const f = {
    scheme: pick([undefined, 'https', 'http']),
    domain: pick(['localhost:8080', 'agora.example', 'sub.agora.example:443', 'user@agora.example']),
    address: w.address,
    statement: pick([undefined, 'Sign in to Agora.', 'I accept the Agora Terms of Service: https://agora.example/tos']),
    uri: pick(['http://localhost:8080/login', 'https://agora.example/api/auth/siwe', 'did:pkh:eip155:1:' + w.address]),
    chainId: pick([1, 31337, 1337, 11155111]),
    nonce: nonce(),
    issuedAt: iso(NOW - 60),
    expirationTime: pick([undefined, iso(NOW + 300)]),
    notBefore: pick([undefined, iso(NOW - 120)]),
    requestId: pick([undefined, '', 'req-42']),
    resources: pick([[], ['ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/'], ['https://a.example/x', 'https://b.example/y?q=1']]),
  };
  cases.push(f);
}

// ethers signs, C verifies
const signed = cases.map((f, i) => ({ text: siweText(f), sig: wallets[i].signMessageSync(siweText(f)) }));
const ver = tool('siwe-verify', cases.map((f, i) => ({ message: signed[i].text, signature: signed[i].sig, now: NOW,
  expect: { domain: f.domain, chainId: f.chainId, nonce: f.nonce } })));
ver.forEach((r, i) => check(!r.error && r.address === cases[i].address, `verify ${i}: ${JSON.stringify(r)}\n${signed[i].text}`));

// the same messages fail when expired, for another domain, chain or nonce, or with another signer
const neg = [];
cases.forEach((f, i) => {
  const base = { message: signed[i].text, signature: signed[i].sig, now: NOW, expect: { domain: f.domain, chainId: f.chainId } };
  neg.push({ ...base, expect: { ...base.expect, domain: 'evil.example' } });
  neg.push({ ...base, expect: { ...base.expect, chainId: 99 } });
  neg.push({ ...base, expect: { ...base.expect, nonce: 'zzzzzzzzzz' } });
  neg.push({ ...base, signature: wallets[(i + 1) % wallets.length].signMessageSync(signed[i].text) });
  neg.push({ ...base, message: signed[i].text.replace('Version: 1', 'Version: 1 ') });
  if (f.expirationTime) neg.push({ ...base, now: NOW + 301 });
  if (f.notBefore) neg.push({ ...base, now: NOW - 121 });
});
tool('siwe-verify', neg).forEach((r, i) => check(r.error, `negative ${i} verified: ${JSON.stringify(neg[i]).slice(0, 300)}`));

// C formats and signs, ethers verifies; the text is the template's
const ours = tool('siwe-sign', cases.map((f, i) => ({ ...f, key: wallets[i].privateKey })));
ours.forEach((r, i) => {
  check(!r.error, `sign ${i}: ${r.error}`);
  check(r.message === siweText(cases[i]), `format ${i}:\n${r.message}\n---\n${siweText(cases[i])}`);
  check(verifyMessage(r.message, r.signature) === cases[i].address, `ethers verify ${i}`);
});
done('siwe', ver.length + neg.length + ours.length);
