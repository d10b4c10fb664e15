// What the page remembers: the signed-in user (their API key), their waiting-room token, and
// the idempotency keys of payments not yet known to have gone through. Kept in localStorage so a
// reload or a second tab carries on; signing out forgets all of it.
const STORE = 'ticketbox.session.v1';

function load() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch { return {}; }
}

let saved = load();
const listeners = new Set();

let lastUser = JSON.stringify(saved.user || null);

function notifyIfUserChanged() {
  const user = JSON.stringify(saved.user || null);
  if (user !== lastUser) { lastUser = user; for (const listener of listeners) listener(); }
}

function save() {
  localStorage.setItem(STORE, JSON.stringify(saved));
  notifyIfUserChanged();
}

/** A fresh random idempotency key (getRandomValues works on plain http too, randomUUID does not). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export const session = {
  /** `{ id, name, apiKey }` or null. */
  get user() { return saved.user || null; },
  signIn(user) { saved = { user, schedules: saved.schedules }; save(); },
  signOut() { saved = {}; save(); },
  rename(name) { if (saved.user) { saved.user.name = name; save(); } },

  get queueToken() { return saved.queueToken || null; },
  setQueueToken(token) { saved.queueToken = token; save(); },
  forgetQueueToken() { delete saved.queueToken; save(); },

  /** The key of a payment for one reservation: the same one on every retry until it is settled. */
  paymentKey(reservationId) {
    saved.paymentKeys = saved.paymentKeys || {};
    if (!saved.paymentKeys[reservationId]) { saved.paymentKeys[reservationId] = newKey(); save(); }
    return saved.paymentKeys[reservationId];
  },
  settlePayment(reservationId) {
    if (saved.paymentKeys) { delete saved.paymentKeys[reservationId]; save(); }
  },

  /** Schedules seen on the dates screen, so later screens can name the date. */
  rememberSchedule(schedule) {
    saved.schedules = saved.schedules || {};
    saved.schedules[schedule.id] = { startsAt: schedule.startsAt, concertId: schedule.concertId };
    save();
  },
  schedule(id) { return (saved.schedules || {})[id] || null; },

  /** Calls `listener` whenever who is signed in changes (here or in another tab). */
  onUserChange(listener) { listeners.add(listener); },
};

// Another tab signed in or out: follow it.
window.addEventListener('storage', (event) => {
  if (event.key === STORE) { saved = load(); notifyIfUserChanged(); }
});
