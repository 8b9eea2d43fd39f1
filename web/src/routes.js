// routes.js - the hash routes of the UI and the page that renders each.

import { homePage } from './pages/home.js';
import { explorePage } from './pages/explore.js';
import { modelPage } from './pages/model.js';
import { publishPage, editPage } from './pages/publish.js';
import { loginPage, registerPage, accountPage } from './pages/account.js';
import { profilePage, editProfilePage } from './pages/profile.js';
import { libraryPage } from './pages/library.js';

// Pages that need the wallet code (ethers) load it with themselves.
const lazy = (load, name) => async (ctx) => (await load())[name](ctx);
const walletPage = lazy(() => import('./pages/wallet.js'), 'walletPage');
const dashboardPage = lazy(() => import('./pages/dashboard.js'), 'dashboardPage');
const disputesPage = lazy(() => import('./pages/disputes.js'), 'disputesPage');

export const routes = [
  { path: '/', page: homePage, nav: 'home' },
  { path: '/explore', page: explorePage, nav: 'explore' },
  { path: '/m/:owner/:slug', page: modelPage, nav: 'explore' },
  { path: '/publish', page: publishPage, nav: 'publish' },
  { path: '/m/:owner/:slug/edit', page: editPage, nav: 'publish' },
  { path: '/login', page: loginPage, nav: 'account' },
  { path: '/register', page: registerPage, nav: 'account' },
  { path: '/account', page: accountPage, nav: 'account' },
  { path: '/u/:username', page: profilePage, nav: 'me' },
  { path: '/settings/profile', page: editProfilePage, nav: 'me' },
  { path: '/library', page: libraryPage, nav: 'library' },
  { path: '/dashboard', page: dashboardPage, nav: 'dashboard' },
  { path: '/wallet', page: walletPage, nav: 'wallet' },
  { path: '/disputes', page: disputesPage, nav: 'disputes' },
];
