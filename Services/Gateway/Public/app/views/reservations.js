// "My reservations": every reservation of the signed-in user, newest first, with its status.
import { api, serverNow } from '../api.js';
import { h, show, message } from '../dom.js';
import { when, won } from '../format.js';
import { describe } from '../messages.js';
import { requireUser } from '../router.js';
import { session } from '../state.js';

const STATUS = { reserving: 'Held: waiting for payment', reserved: 'Paid', canceled: 'Canceled' };

export function render(root) {
  if (!requireUser()) return;
  let stopped = false;
  show(root, h('h1', {}, 'My reservations ', h('span', { lang: 'ko', class: 'sub' }, '내 예매')), h('p', { class: 'muted' }, 'Loading…'));
  Promise.all([api.reservations(), api.concerts()]).then(([list, concerts]) => {
    if (stopped) return;
    const titles = new Map(concerts.data.map((concert) => [concert.id, concert.title]));
    const now = serverNow();
    const items = list.data.map((reservation) => {
      const lapsed = reservation.status === 'reserving' && Date.parse(reservation.expiresAt) <= now;
      const status = lapsed ? 'canceled' : reservation.status;
      return h('li', { class: `card reservation ${status}`, dataset: { reservationId: reservation.id, status } },
        h('h2', {}, `Seat ${reservation.seatNumber} · ${titles.get(reservation.concertId) || 'Concert'}`),
        h('p', {}, h('span', { class: `badge ${status}`, 'data-testid': 'status' }, lapsed ? 'Hold lapsed' : STATUS[reservation.status]),
          ' ', won(reservation.price)),
        session.schedule(reservation.scheduleId) ? h('p', {}, when(session.schedule(reservation.scheduleId).startsAt)) : null,
        h('p', { class: 'muted' }, `Booked on ${when(reservation.createdAt)}`),
        h('a', { class: `button${reservation.status === 'reserving' && !lapsed ? ' primary' : ''}`, href: `#/reservations/${reservation.id}` },
          reservation.status === 'reserving' && !lapsed ? 'Pay now' : 'Details'));
    });
    show(root,
      h('h1', {}, 'My reservations ', h('span', { lang: 'ko', class: 'sub' }, '내 예매')),
      items.length ? h('ul', { class: 'cards' }, items) : h('p', {}, 'No reservations yet. ', h('a', { href: '#/' }, 'Find a concert')));
  }).catch((error) => {
    if (!stopped) show(root, h('h1', {}, 'My reservations'), message('error', describe(error, { action: 'load' })));
  });
  return () => { stopped = true; };
}
