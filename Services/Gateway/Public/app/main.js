// The page's entry point: the header, and which screen each address shows. Each screen is a
// module under views/ whose render(root, route) draws it and returns how to stop its timers.
import { session } from './state.js';
import { api } from './api.js';
import { h, show, message } from './dom.js';
import { currentRoute, go, takeNotice } from './router.js';
import * as concerts from './views/concerts.js';
import * as signup from './views/signup.js';
import * as waiting from './views/waiting.js';
import * as dates from './views/dates.js';
import * as seats from './views/seats.js';
import * as hold from './views/hold.js';
import * as wallet from './views/wallet.js';
import * as reservations from './views/reservations.js';

/** Address patterns to screens; `:id` parts are passed as numbers. */
const screens = [
  [['signup'], signup],
  [['concerts', ':id', 'queue'], waiting],
  [['concerts', ':id'], dates],
  [['schedules', ':id'], seats],
  [['reservations', ':id'], hold],
  [['reservations'], reservations],
  [['wallet'], wallet],
  [[], concerts],
];

function match(parts) {
  for (const [pattern, screen] of screens) {
    if (pattern.length !== parts.length) continue;
    const ids = [];
    const fits = pattern.every((piece, index) => {
      if (!piece.startsWith(':')) return piece === parts[index];
      const id = Number(parts[index]);
      ids.push(id);
      return Number.isSafeInteger(id) && id > 0;
    });
    if (fits) return { screen, id: ids[0] };
  }
  return null;
}

let stopScreen = null;

function render() {
  if (stopScreen) { stopScreen(); stopScreen = null; }
  const route = currentRoute();
  const main = document.getElementById('main');
  const found = match(route.parts);
  const notice = takeNotice();
  const root = h('div', { class: 'screen' });
  const arrival = notice ? message(notice.kind, notice.text) : null;
  show(main, arrival, root);
  if (!found) {
    show(root, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'See the concerts')));
    return;
  }
  stopScreen = found.screen.render(root, { ...route, id: found.id, dismissNotice: () => arrival?.remove() }) || null;
  // A screen that focused its own first field keeps it; otherwise reading starts at the content.
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function renderNav() {
  const nav = document.getElementById('nav');
  const user = session.user;
  if (!user) {
    show(nav, h('a', { href: '#/' }, 'Concerts'), h('a', { href: '#/signup', class: 'button small' }, 'Sign up'));
    return;
  }
  show(nav,
    h('a', { href: '#/' }, 'Concerts'),
    h('a', { href: '#/reservations' }, 'My reservations'),
    h('a', { href: '#/wallet' }, 'Wallet'),
    h('span', { class: 'who', 'data-testid': 'who' }, user.name),
    h('button', { class: 'link', type: 'button', onclick: signOut }, 'Sign out'));
}

/** Gives up any place in the waiting room (so the slot goes to the next person), then forgets the key. */
async function signOut() {
  if (session.queueToken) await api.leaveQueue().catch(() => null);
  session.signOut();
  go('#/', { kind: 'info', text: 'You are signed out. This browser has forgotten your key.' });
}

/** A stored key that no longer works (a new database, say) is forgotten rather than failing everywhere. */
async function checkStoredUser() {
  if (!session.user) return;
  try {
    const { data } = await api.me();
    if (data.name !== session.user.name) session.rename(data.name);
  } catch (error) {
    if (error.code === 'unauthorized') {
      session.signOut();
      go('#/signup', { kind: 'info', text: 'Your saved sign-in no longer works here. Please sign up again.' });
    }
  }
}

session.onUserChange(renderNav);
// Only #/… addresses are screens; any other fragment is a jump within the page.
window.addEventListener('hashchange', () => { if (location.hash === '' || location.hash.startsWith('#/')) render(); });
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main').focus();
});
renderNav();
render();
checkStoredUser();
