// wallet.js - the wallet page: connect a browser wallet (EIP-1193) or, on a
// development chain, a burner wallet kept in this browser; balances; the
// faucet; linking the wallet to the account with Sign-In with Ethereum.

import { h, mount } from '../dom.js';
import { session } from '../session.js';
import { busy, emptyState, errorAlert, setTitle, spinner, toast } from '../components.js';
import { formatPrice } from '../format.js';
import {
  balances, chainInfo, chainReady, connectBurner, connectInjected, disconnect, explainError, faucet, forgetBurner,
  formatEth, hasInjected, isDevChain, linkWallet, linkedAddresses, onWalletChange, restoreWallet, wallet,
} from '../chain.js';
import { arbitratorCard } from './disputes.js';

function note(kind, text) {
  return h(`div.alert.alert-${kind}.small.mb-0`, { role: kind === 'danger' ? 'alert' : 'status' }, text);
}

export async function walletPage({ main, signal }) {
  setTitle('Wallet');
  mount(main, h('h1.h3', 'Wallet'), spinner('Loading the chain\u2026'));
  let info;
  try {
    info = await chainInfo({ fresh: true, signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    mount(main, h('h1.h3', 'Wallet'), errorAlert(err, () => walletPage({ main, signal })));
    return;
  }
  if (!chainReady(info)) {
    mount(main, h('h1.h3', 'Wallet'), emptyState('No chain on this node',
      'This marketplace node does not follow a blockchain, so there is nothing to pay with yet. Free models can still be downloaded.'));
    return;
  }
  await restoreWallet(info);
  const dev = isDevChain(info);
  const statusBox = h('div', { 'aria-live': 'polite' });
  const walletBox = h('div');
  const linkBox = h('div');
  const arbBox = h('div.mt-3');

  const render = async () => {
    if (signal.aborted) return;
    mount(statusBox);
    if (burnerBtn) {
      burnerBtn.disabled = wallet.kind === 'burner';
      burnerBtn.textContent = wallet.kind === 'burner' ? 'Burner wallet in use' : 'Use burner wallet';
    }
    if (!wallet.kind) {
      mount(walletBox, emptyState('No wallet connected', dev
        ? 'Connect your browser wallet, or use a burner wallet for this development chain.'
        : 'Connect your browser wallet to buy licences and sell models.'));
      mount(linkBox);
      arbitratorCard(arbBox, info);
      return;
    }
    const ethBox = h('dd.col-7.mb-1', { id: 'bal-eth' }, h('span.placeholder.col-6'));
    const tokBox = h('dd.col-7.mb-1', { id: 'bal-agr' }, h('span.placeholder.col-6'));
    const refresh = h('button.btn.btn-sm.btn-outline-secondary', { type: 'button' }, 'Refresh balances');
    const off = h('button.btn.btn-sm.btn-outline-danger', { type: 'button' }, 'Disconnect');
    off.addEventListener('click', () => {
      disconnect();
      toast('Wallet disconnected.');
    });
    const actions = [refresh, off];
    if (wallet.kind === 'burner') {
      const forget = h('button.btn.btn-sm.btn-outline-danger', { type: 'button' }, 'Delete burner key');
      forget.addEventListener('click', () => {
        if (!window.confirm('Delete this burner wallet\u2019s key from this browser? Anything it holds is lost.')) return;
        forgetBurner(info);
      });
      actions.push(forget);
    }
    let faucetBtn = null;
    if (dev) {
      faucetBtn = h('button.btn.btn-success', { type: 'button', id: 'faucet-btn' }, 'Get test ETH and 1,000 AGR');
      faucetBtn.addEventListener('click', async () => {
        if (!session.signedIn()) {
          location.hash = `#/login?next=${encodeURIComponent('#/wallet')}`;
          return;
        }
        try {
          const r = await busy(faucetBtn, () => faucet(wallet.address));
          const got = [r.eth !== '0' ? formatEth(r.eth) : null, r.tokens !== '0' ? formatPrice(r.tokens) : null].filter(Boolean);
          mount(statusBox, note('success', got.length ? `Sent ${got.join(' and ')} to your wallet.` : 'Nothing was needed.'));
          loadBalances();
        } catch (err) {
          mount(statusBox, note('danger', err.message));
        }
      });
    }
    const loadBalances = async () => {
      try {
        const b = await balances(info, wallet.address);
        mount(ethBox, formatEth(b.eth));
        mount(tokBox, formatPrice(b.tokens.toString()).replace('Free', '0 AGR'));
      } catch (err) {
        mount(ethBox, h('span.text-danger', explainError(err)));
        mount(tokBox, '\u2014');
      }
    };
    refresh.addEventListener('click', loadBalances);
    mount(walletBox,
      h('div.card', h('div.card-body',
        h('div.d-flex.flex-wrap.align-items-center.gap-2.mb-2',
          h('h2.h5.mb-0', 'Connected wallet'),
          wallet.kind === 'burner'
            ? h('span.badge.text-bg-warning', { title: 'The key is stored unencrypted in this browser' }, 'Burner \u00b7 development only')
            : h('span.badge.text-bg-info', 'Browser wallet')),
        h('p.mb-2', h('span.visually-hidden', 'Address: '), h('code.text-break', { id: 'wallet-address' }, wallet.address)),
        h('dl.row.mb-3',
          h('dt.col-5.fw-normal.text-body-secondary', 'Gas (ETH)'), ethBox,
          h('dt.col-5.fw-normal.text-body-secondary', 'AGR tokens'), tokBox),
        faucetBtn ? h('div.mb-3', faucetBtn, h('p.form-text.mb-0', 'Development chain only: the node sends gas money and the token faucet drips 1,000 AGR, once a day per address.')) : null,
        h('div.d-flex.flex-wrap.gap-2', actions))));
    loadBalances();
    renderLink();
    arbitratorCard(arbBox, info);
  };

  const renderLink = async () => {
    if (!wallet.kind) return;
    if (!session.signedIn()) {
      mount(linkBox, h('p.mt-3', h('a', { href: `#/login?next=${encodeURIComponent('#/wallet')}` }, 'Log in'),
        ' to link this wallet to your account, so that licences it buys unlock downloads.'));
      return;
    }
    mount(linkBox, spinner('Checking linked wallets\u2026'));
    try {
      const linked = await linkedAddresses(signal);
      const mine = linked.includes(wallet.address.toLowerCase());
      const linkBtn = h('button.btn.btn-primary', { type: 'button', id: 'link-btn' }, `Link this wallet to ${session.user.username}`);
      linkBtn.addEventListener('click', async () => {
        try {
          await busy(linkBtn, () => linkWallet(info));
          toast('Wallet linked to your account.');
          renderLink();
        } catch (err) {
          mount(statusBox, note('danger', err.message && err.status ? err.message : explainError(err)));
        }
      });
      mount(linkBox, h('div.card.mt-3', h('div.card-body',
        h('h2.h5', 'Linked to your account'),
        mine ? h('p.text-success.mb-2', { id: 'link-state' }, '\u2713 This wallet is linked to ', h('strong', session.user.username), '. Licences it buys unlock your downloads.')
          : h('div.mb-2', h('p.mb-2', { id: 'link-state' }, 'This wallet is not linked to your account yet. Sign a message (no transaction, no fee) to link it.'), linkBtn),
        linked.length ? h('ul.small.mb-0', { 'aria-label': 'Linked addresses' }, linked.map((a) => h('li', h('code', a)))) : null)));
    } catch (err) {
      if (err.name !== 'AbortError') mount(linkBox, errorAlert(err, renderLink));
    }
  };

  const injectedBtn = h('button.btn.btn-primary', { type: 'button', id: 'connect-injected', disabled: !hasInjected() }, 'Connect browser wallet');
  injectedBtn.addEventListener('click', async () => {
    try {
      await busy(injectedBtn, () => connectInjected(info));
      toast('Wallet connected.');
    } catch (err) {
      mount(statusBox, note('danger', explainError(err)));
    }
  });
  const burnerBtn = dev ? h('button.btn.btn-outline-warning', { type: 'button', id: 'connect-burner' }, 'Use burner wallet') : null;
  if (burnerBtn) burnerBtn.addEventListener('click', () => {
    try {
      connectBurner(info);
      toast('Burner wallet ready.');
    } catch (err) {
      mount(statusBox, note('danger', explainError(err)));
    }
  });

  mount(main,
    h('h1.h3', 'Wallet'),
    h('p.text-body-secondary', `Pay for licences and receive your earnings with an Ethereum wallet on chain ${info.chain_id}.`),
    statusBox,
    h('div.row.g-3.mt-1',
      h('div.col-lg-7', walletBox, linkBox, arbBox),
      h('div.col-lg-5',
        h('div.card.mb-3', h('div.card-body',
          h('h2.h6', 'Browser wallet'),
          h('p.small.text-body-secondary', hasInjected() ? 'Use the wallet extension of this browser (EIP-1193).' : 'No browser wallet was found in this browser.'),
          injectedBtn)),
        dev ? h('div.card.border-warning', h('div.card-body',
          h('h2.h6', 'Burner wallet ', h('span.badge.text-bg-warning', 'development only')),
          h('p.small.text-body-secondary', 'A throwaway key made and kept in this browser (unencrypted, in local storage) for the local development chain. Never send real funds to it.'),
          burnerBtn)) : null)));
  // Every change of wallet (here, or in the browser wallet) redraws the page.
  const unsubscribe = onWalletChange(() => render());
  signal.addEventListener('abort', unsubscribe);
  await render();
}
