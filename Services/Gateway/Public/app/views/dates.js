// The open dates of one concert (gated: only for people the waiting room let in).
import { api } from '../api.js';
import { h, show, message } from '../dom.js';
import { count, when } from '../format.js';
import { describe } from '../messages.js';
import { go, requireUser } from '../router.js';
import { session } from '../state.js';

export function render(root, route) {
  if (!requireUser()) return;
  const concertId = route.id;
  let stopped = false;
  show(root, h('p', { class: 'muted' }, 'Loading dates…'));
  Promise.all([api.concerts(), api.schedules(concertId)]).then(([concerts, schedules]) => {
    if (stopped) return;
    const concert = concerts.data.find((item) => item.id === concertId);
    const list = schedules.data.map((schedule) => {
      session.rememberSchedule(schedule);
      return h('li', { class: 'card date' },
        h('h2', {}, when(schedule.startsAt)),
        h('p', {}, `${count(schedule.remainingSeats)} seats left`, h('br'),
          h('span', { class: 'muted' }, `Booking open until ${when(schedule.reservationEndAt)}`)),
        h('a', { class: 'button primary', href: `#/schedules/${schedule.id}?concert=${concertId}`, 'aria-label': `Choose seats for ${when(schedule.startsAt)}` }, 'Choose seats'));
    });
    show(root,
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Concerts'), ' › ', concert ? concert.title : 'Concert'),
      h('h1', {}, 'Choose a date ', h('span', { lang: 'ko', class: 'sub' }, '날짜 선택')),
      concert ? h('p', { class: 'lead' }, concert.title) : null,
      list.length ? h('ul', { class: 'cards' }, list) : h('p', {}, 'No dates are open for booking right now.'));
  }).catch((error) => {
    if (stopped) return;
    if (error.needsQueue) { go(`#/concerts/${concertId}/queue`, { kind: 'info', text: describe(error) }); return; }
    show(root, h('h1', {}, 'Choose a date'), message('error', describe(error, { action: 'load' })), h('p', {}, h('a', { href: '#/' }, 'Back to the concerts')));
  });
  return () => { stopped = true; };
}
