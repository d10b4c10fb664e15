// One reservation: while it is held, a countdown to its expiresAt (a warning in the last minute,
// and plain words once it has lapsed), the wallet's balance beside the price, a top-up for what is
// missing, and Pay (one idempotency key per reservation, so pressing Pay again never pays twice).
import { api, serverNow } from '../api.js';
import { h, show, message } from '../dom.js';
import { minutesSeconds, when, won } from '../format.js';
import { describe } from '../messages.js';
import { go, requireUser } from '../router.js';
import { newKey, session } from '../state.js';

const REASONS = {
  canceled_by_user: 'You gave up this seat.',
  payment_failed: 'The payment could not be completed, so the seat went back on sale. Anything taken was refunded.',
};

export function render(root, route) {
  if (!requireUser()) return;
  const reservationId = route.id;
  let reservation = null;
  let balance = null;
  let tick = null;
  let retryTimer = null;
  let stopped = false;
  let busy = false;
  // A top-up's key is kept until it succeeds, or until the amount changes, so a retry never charges twice.
  let topUp = { key: null, amount: null };

  const status = h('div', { 'aria-live': 'polite', 'data-testid': 'hold-status' });
  const body = h('div');
  show(root, h('p', { class: 'crumbs' }, h('a', { href: '#/reservations' }, 'My reservations'), ' › Reservation'), body, status);

  async function load() {
    try {
      // The title is a nicety: without it the seat can still be paid.
      const [held, wallet, concerts] = await Promise.all([
        api.reservation(reservationId), api.wallet(), api.concerts().catch(() => ({ data: [] }))]);
      if (stopped) return;
      reservation = held.data;
      balance = wallet.data.balance;
      reservation.concertTitle = concerts.data.find((concert) => concert.id === reservation.concertId)?.title;
      draw();
    } catch (error) {
      if (stopped) return;
      const retry = error.code === 'service_unavailable' || error.code === 'network';
      show(body, h('h1', {}, 'Reservation'), message(retry ? 'warning' : 'error', describe(error, { action: 'load' }), retry ? ' Trying again…' : ''));
      if (retry) retryTimer = setTimeout(load, 2000);
    }
  }

  function seatsPage() {
    return `#/schedules/${reservation.scheduleId}?concert=${reservation.concertId}`;
  }

  function heading() {
    const date = session.schedule(reservation.scheduleId);
    return [
      h('h1', {}, `Seat ${reservation.seatNumber} `, h('span', { lang: 'ko', class: 'sub' }, `${reservation.seatNumber}번 좌석`)),
      h('p', { class: 'lead' }, reservation.concertTitle || 'Concert', date ? h('br') : null, date ? when(date.startsAt) : null),
      h('p', {}, 'Price: ', h('strong', {}, won(reservation.price))),
    ];
  }

  function lapsed() {
    return reservation.status === 'reserving' && Date.parse(reservation.expiresAt) <= serverNow();
  }

  function draw() {
    clearInterval(tick);
    if (stopped) return;
    // The banner this screen arrived with ("Seat 7 is yours for now") is stale once the hold ends.
    if (reservation.status !== 'reserving' || lapsed()) route.dismissNotice?.();
    if (reservation.status === 'reserved') {
      show(body, heading(),
        message('success', `Paid. Seat ${reservation.seatNumber} is yours.`),
        h('div', { class: 'actions' },
          h('a', { class: 'button', href: '#/reservations' }, 'See my reservations'),
          h('button', { type: 'button', class: 'secondary', onclick: cancel }, 'Cancel and get a refund')));
      return;
    }
    if (reservation.status === 'canceled' || lapsed()) {
      const lapse = lapsed() || reservation.cancelReason === 'hold_lapsed';
      const words = lapse
        ? `Your hold on seat ${reservation.seatNumber} has lapsed, so the seat is back on sale. You were not charged.`
        : (REASONS[reservation.cancelReason] || 'This reservation was canceled.');
      const notice = message('warning', words);
      notice.dataset.testid = 'ended';
      show(body, heading(), notice,
        h('div', { class: 'actions' }, h('a', { class: 'button primary', href: seatsPage() }, 'Choose a seat again')));
      return;
    }
    const countdown = h('p', { class: 'countdown', 'data-testid': 'countdown', role: 'timer', 'aria-live': 'off' });
    const hint = h('p', { class: 'countdown-hint', 'aria-live': 'polite' });
    const shortBy = Math.max(0, reservation.price - balance);
    // On a short wallet the next step is the top-up, so it is the primary action and Pay waits beside it.
    const payButton = h('button', { type: 'button', class: shortBy > 0 ? 'secondary' : 'primary', 'data-testid': 'pay', onclick: pay },
      `Pay ${won(reservation.price)}`);
    const wallet = h('div', { class: 'card wallet-box' },
      h('p', {}, 'Your wallet: ', h('strong', { 'data-testid': 'balance' }, won(balance))),
      shortBy > 0 ? topUpForm(shortBy) : null);
    show(body, heading(),
      h('div', { class: 'timer-box' }, h('span', {}, 'Time left to pay '), countdown, hint),
      wallet,
      shortBy > 0 ? message('info', `Your balance is ${won(shortBy)} short for this seat. Top up first, then pay.`) : null,
      h('div', { class: 'actions' }, payButton,
        h('button', { type: 'button', class: 'secondary', onclick: cancel }, 'Give up this seat')));
    const update = () => {
      const left = Date.parse(reservation.expiresAt) - serverNow();
      if (left <= 0) { draw(); return; }
      countdown.textContent = minutesSeconds(left);
      const warn = left < 60000;
      countdown.classList.toggle('warning', warn);
      const words = warn ? 'Less than a minute left: pay now, or the seat goes back on sale.' : 'The seat is held for you until then.';
      if (hint.textContent !== words) hint.textContent = words;
    };
    update();
    tick = setInterval(update, 250);
  }

  function topUpForm(shortBy) {
    const amount = h('input', { id: 'top-up-amount', type: 'number', min: 1, max: 10000000, step: 1, value: shortBy, inputmode: 'numeric' });
    const form = h('form', { class: 'inline' },
      h('label', { for: 'top-up-amount' }, 'Top up (won)'), amount,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'top-up' }, 'Top up'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      form.querySelector('button').disabled = true;
      const value = Number(amount.value);
      if (topUp.amount !== value) topUp = { key: newKey(), amount: value };
      try {
        const { data } = await api.topUp(value, topUp.key);
        topUp = { key: null, amount: null };
        if (stopped) return;
        balance = data.balance;
        show(status, message('success', `Topped up. Your balance is now ${won(balance)}.`));
        draw();
      } catch (error) {
        if (stopped) return;
        show(status, message('error', describe(error, { action: 'top-up' })));
        form.querySelector('button').disabled = false;
      }
      busy = false;
    });
    return form;
  }

  async function pay() {
    if (busy) return;
    busy = true;
    body.querySelectorAll('.actions button').forEach((button) => { button.disabled = true; });
    show(status, message('info', 'Paying…'));
    try {
      await api.pay(reservationId, session.paymentKey(reservationId));
      session.settlePayment(reservationId);
      if (stopped) return;
      go('#/reservations', { kind: 'success', text: `Paid. Seat ${reservation.seatNumber} is yours. Enjoy the concert!` });
      return;
    } catch (error) {
      busy = false;
      if (stopped) return;
      let shortBy = 0;
      if (error.code === 'insufficient_balance') {
        balance = (await api.wallet().catch(() => ({ data: { balance } }))).data.balance;
        shortBy = reservation.price - balance;
      }
      // These answers are final for this key: a new attempt needs a new key.
      if (['reservation_expired', 'reservation_not_payable', 'idempotency_key_reused'].includes(error.code)) session.settlePayment(reservationId);
      if (['reservation_expired', 'reservation_not_payable', 'insufficient_balance'].includes(error.code)) {
        const fresh = await api.reservation(reservationId).catch(() => null);
        if (stopped) return;
        if (fresh) reservation = { ...fresh.data, concertTitle: reservation.concertTitle };
        if (error.code === 'reservation_expired') reservation.expiresAt = new Date(Math.min(Date.parse(reservation.expiresAt), serverNow())).toISOString();
        draw();
      } else {
        body.querySelectorAll('.actions button').forEach((button) => { button.disabled = false; });
      }
      show(status, message('error', describe(error, { seatNumber: reservation.seatNumber, shortBy, action: 'pay' })));
    }
  }

  async function cancel() {
    if (busy) return;
    const refund = reservation.status === 'reserved';
    if (!window.confirm(refund ? `Cancel seat ${reservation.seatNumber}? ${won(reservation.price)} goes back to your wallet.` : `Give up seat ${reservation.seatNumber}?`)) return;
    busy = true;
    try {
      const { data } = await api.cancel(reservationId);
      if (stopped) return;
      reservation = { ...data, concertTitle: reservation.concertTitle };
      session.settlePayment(reservationId);
      show(status, message('success', refund ? `Canceled. ${won(reservation.price)} is back in your wallet.` : `You gave up seat ${reservation.seatNumber}. It is back on sale.`));
      draw();
    } catch (error) {
      if (stopped) return;
      show(status, message('error', describe(error, { seatNumber: reservation.seatNumber, action: 'cancel' })));
    }
    busy = false;
  }

  load();
  return () => { stopped = true; clearInterval(tick); clearTimeout(retryTimer); };
}
