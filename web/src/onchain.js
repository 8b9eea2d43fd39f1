// onchain.js - publishing a listing on-chain from the seller's wallet (the
// edit page): ModelRegistry.registerModel(keccak256("owner/slug"),
// "agora:owner/slug"), publishVersion for each published version with a
// stored file (its first file's CID and sha256), and Marketplace.setPrice
// to the listing's price. Each step is skipped when the chain already has
// it, so the button is safe to press again after a failure.

import { api, seg } from './api.js';
import { h, mount } from './dom.js';
import { busy, toast } from './components.js';
import { formatPrice, isFree } from './format.js';
import {
  chainInfo, chainReady, contracts, explainError, linkWallet, linkedAddresses, relayProvider, restoreWallet, shortAddress, wallet,
} from './chain.js';
import { id as keccakId } from 'ethers';

// This module (and ethers with it) is loaded by the edit page on demand.

const INDEX_WAIT_MS = 60000;

async function waitIndexed(model, pred) {
  const until = Date.now() + INDEX_WAIT_MS;
  while (Date.now() < until) {
    const m = await api('GET', seg`/models/${model.owner}/${model.slug}`);
    if (pred(m)) return m;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('The transaction is mined but the node has not indexed it yet; reload in a minute.');
}

// The plan: what the chain lacks, as [{key, label, run}].
async function plan(info, model, versions) {
  const p = relayProvider(info);
  const c = contracts(info, p);
  const steps = [];
  const linked = await linkedAddresses();
  if (!linked.includes(wallet.address.toLowerCase())) {
    steps.push({ key: 'link', label: 'Link this wallet to your account (signature)', run: () => linkWallet(info) });
  }
  const name = `${model.owner}/${model.slug}`;
  let tokenId = await c.registry.modelIdBySlug(keccakId(name));
  const ownerOnChain = tokenId ? (await c.registry.ownerOf(tokenId)).toLowerCase() : null;
  if (ownerOnChain && ownerOnChain !== wallet.address.toLowerCase()) {
    throw new Error(`The model token #${tokenId} is owned by ${shortAddress(ownerOnChain)}, not by the connected wallet. Connect that wallet to manage it.`);
  }
  if (!tokenId) {
    steps.push({
      key: 'register',
      label: `Register ${name} (mint the model token)`,
      run: async (signer) => {
        const rc = await (await contracts(info, signer).registry.registerModel(keccakId(name), `agora:${name}`)).wait(1);
        tokenId = await c.registry.modelIdBySlug(keccakId(name));
        return rc;
      },
    });
  }
  const onChain = new Set(tokenId ? (await c.registry.getVersions(tokenId)).map((v) => v.version) : []);
  for (const v of versions) {
    const f = (v.files || []).find((x) => x.cid && x.sha256);
    if (v.state !== 'published' || !f || onChain.has(v.version)) continue;
    steps.push({
      key: `v-${v.version}`,
      label: `Publish version ${v.version} (${f.name})`,
      run: async (signer) => (await contracts(info, signer).registry.publishVersion(
        tokenId, v.version, f.cid, `0x${f.sha256}`, [], [], keccakId(model.card || ''))).wait(1),
    });
  }
  if (!isFree(model.price)) {
    const current = tokenId ? await c.market.priceOf(tokenId) : 0n;
    if (current !== BigInt(model.price)) {
      steps.push({
        key: 'price',
        label: `Put it on sale at ${formatPrice(model.price)}`,
        run: async (signer) => (await contracts(info, signer).market.setPrice(tokenId, BigInt(model.price))).wait(1),
      });
    }
  }
  return { steps, tokenId: () => tokenId };
}

export function chainPanel(model, versions, onChanged) {
  const box = h('div', { 'aria-live': 'polite' });
  const render = async () => {
    let info;
    try {
      info = await chainInfo();
    } catch (err) {
      mount(box, h('p.text-danger.small', err.message));
      return;
    }
    if (!chainReady(info)) {
      mount(box, h('p.small.text-body-secondary.mb-0', 'This node follows no chain: the listing lives on this node only.'));
      return;
    }
    await restoreWallet(info);
    const ch = model.chain;
    const state = ch
      ? h('p.small.mb-2', { id: 'chain-state' }, `Registered as token #${ch.token_id}, owned by `, h('code', { title: ch.owner }, shortAddress(ch.owner)),
        `; ${ch.versions} version${ch.versions === 1 ? '' : 's'} on-chain; price ${formatPrice(ch.price)}.`)
      : h('p.small.mb-2', { id: 'chain-state' }, 'Not on-chain yet. Registering mints a model token to your wallet: it records you as the owner and lets people buy licences.');
    if (!wallet.kind) {
      mount(box, state, h('p.small.mb-0', h('a', { href: '#/wallet' }, 'Connect a wallet'), ' to publish on-chain.'));
      return;
    }
    const btn = h('button.btn.btn-primary', { type: 'button', id: 'publish-chain' }, 'Publish on-chain');
    const out = h('div');
    btn.addEventListener('click', async () => {
      mount(out);
      let current = null;
      const list = h('ol.small.mt-2.mb-0.chain-steps');
      try {
        await busy(btn, async () => {
          const { steps } = await plan(info, model, versions);
          if (!steps.length) {
            mount(out, h('p.small.text-success.mt-2.mb-0', '\u2713 The chain already has everything: nothing to do.'));
            return;
          }
          mount(out, list);
          const items = steps.map((s) => h('li', { dataset: { step: s.key } }, s.label, h('span.ms-1.step-note')));
          list.append(...items);
          for (let i = 0; i < steps.length; i += 1) {
            current = items[i];
            current.querySelector('.step-note').textContent = ' \u2026 confirm in your wallet';
            current.setAttribute('aria-current', 'step');
            await steps[i].run(wallet.signer);
            current.removeAttribute('aria-current');
            current.querySelector('.step-note').textContent = ' \u2713';
          }
          current = null;
          const done = await waitIndexed(model, (m) => m.chain && (isFree(model.price) || m.chain.price === model.price)
            && m.chain.versions >= versions.filter((v) => v.state === 'published' && (v.files || []).some((f) => f.cid)).length);
          model.chain = done.chain;
          list.after(h('p.small.text-success.mt-2.mb-0', { role: 'status' }, '\u2713 Published on-chain and indexed by the node.'));
          toast('Published on-chain and indexed by the node.');
          if (onChanged) onChanged();
        });
      } catch (err) {
        if (current) current.querySelector('.step-note').textContent = ' \u2717';
        out.append(h('div.alert.alert-danger.small.mt-2.mb-0', { role: 'alert' }, err.status ? err.message : explainError(err)));
      }
    });
    mount(box, state, h('p.small.text-body-secondary', 'Connected wallet: ', h('code', { title: wallet.address }, shortAddress(wallet.address))), btn, out);
  };
  render();
  return box;
}
