// Moving between screens: hash addresses (#/wallet), so every screen has a link and a reload
// stays put, and a one-time notice carried to the next screen ("You left the line.").
import { session } from './state.js';

let pending = null;

/** Goes to `hash`, optionally showing `notice` ({ kind, text }) on the screen it opens. */
export function go(hash, notice = null) {
  pending = notice;
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** The notice meant for this screen, once. */
export function takeNotice() {
  const notice = pending;
  pending = null;
  return notice;
}

/** The current address: path parts and query, e.g. #/schedules/3?concert=1. */
export function currentRoute() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path, query = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(query), hash: `#${raw}` };
}

/** The signed-in user, or null after sending the person to sign up and come back here. */
export function requireUser() {
  if (session.user) return session.user;
  go(`#/signup?next=${encodeURIComponent(currentRoute().hash)}`, { kind: 'info', text: 'Sign up first: it takes one step.' });
  return null;
}
