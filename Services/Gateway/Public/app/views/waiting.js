// The waiting room: take a place (or find the one this browser already has), follow the
// position at the pace the server asks for (pollAfterMs), and move on by itself once admitted.
import { api } from '../api.js';
import { h, show, message } from '../dom.js';
import { aboutSeconds, count, timeOfDay } from '../format.js';
import { describe } from '../messages.js';
import { go, requireUser } from '../router.js';
import { session } from '../state.js';

export function render(root, route) {
  if (!requireUser()) return;
  const concertId = route.id;
  const onward = `#/concerts/${concertId}`;
  let timer = null;
  let stopped = false;
  let firstPosition = null;
  let leaving = false;

  const position = h('strong', { class: 'position', 'data-testid': 'position' }, '…');
  const ahead = h('span', { 'data-testid': 'ahead' });
  const wait = h('span', { 'data-testid': 'wait' });
  const bar = h('progress', { max: 100, value: 0, 'aria-label': 'Progress through the line' });
  const updated = h('span', { class: 'muted', 'data-testid': 'updated' });
  const status = h('div', { 'aria-live': 'polite' });
  const leave = h('button', { type: 'button', class: 'secondary', onclick: leaveLine }, 'Leave the line');

  show(root,
    h('section', { class: 'card narrow waiting', 'aria-labelledby': 'waiting-title' },
      h('h1', { id: 'waiting-title' }, 'Waiting room ', h('span', { lang: 'ko', class: 'sub' }, '대기실')),
      h('p', {}, 'Many people want tickets right now, so we let them in a few at a time, in the order they came. Keep this page open: it moves on by itself when it is your turn.'),
      h('p', { class: 'big' }, 'Your place in line: ', position),
      h('p', {}, ahead, ' · ', wait),
      bar,
      h('p', {}, 'Last updated ', updated),
      status,
      leave));

  function showToken(token) {
    if (token.status === 'active') {
      go(onward, { kind: 'success', text: 'It is your turn! Choose a date.' });
      return true;
    }
    if (firstPosition === null || token.position > firstPosition) firstPosition = token.position;
    const peopleAhead = Math.max(0, token.position - 1);
    position.textContent = count(token.position);
    ahead.textContent = peopleAhead === 0 ? 'You are next' : peopleAhead === 1 ? '1 person ahead of you' : `${count(peopleAhead)} people ahead of you`;
    wait.textContent = `Estimated wait: ${aboutSeconds(token.estimatedWaitSeconds)}`;
    bar.value = firstPosition > 0 ? Math.round(100 * (firstPosition - token.position + 1) / (firstPosition + 1)) : 100;
    updated.textContent = timeOfDay(new Date());
    return false;
  }

  async function enter() {
    const { data } = await api.enterQueue();
    if (leaving) {
      // Left while this place was being taken: give it straight back.
      session.setQueueToken(data.token);
      await api.leaveQueue().catch(() => null);
      session.forgetQueueToken();
      return data;
    }
    session.setQueueToken(data.token);
    return data;
  }

  async function poll() {
    if (stopped) return;
    let token;
    try {
      if (session.queueToken) {
        token = (await api.queueStatus()).data;
        if (token.status === 'expired') token = await enter();
      } else {
        token = await enter();
      }
      show(status);
    } catch (error) {
      if (stopped) return;
      if (error.code === 'queue_token_inactive') {
        session.forgetQueueToken();
        timer = setTimeout(poll, 0);
      } else if (error.code === 'unauthorized' || error.code === 'not_found') {
        show(status, message('error', describe(error)), h('p', {}, h('a', { href: '#/' }, 'Back to the concerts')));
      } else {
        show(status, message('warning', describe(error), ' We will keep trying.'));
        timer = setTimeout(poll, 2000);
      }
      return;
    }
    if (stopped || showToken(token)) return;
    timer = setTimeout(poll, Math.min(Math.max(token.pollAfterMs || 1000, 250), 10000));
  }

  async function leaveLine() {
    leave.disabled = true;
    stopped = true;
    leaving = true;
    clearTimeout(timer);
    try {
      if (session.queueToken) await api.leaveQueue();
    } catch (error) {
      if (error.code !== 'queue_token_inactive') {
        // Still in line: say so, and keep following the place.
        show(status, message('error', describe(error)));
        leave.disabled = false;
        stopped = false;
        leaving = false;
        poll();
        return;
      }
    }
    session.forgetQueueToken();
    go('#/', { kind: 'info', text: 'You left the line. Your place went to the next person.' });
  }

  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
