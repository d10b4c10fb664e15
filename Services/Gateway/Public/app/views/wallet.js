// The wallet: balance, a top-up (one idempotency key per top-up, kept across retries), the ledger.
import { api } from '../api.js';
import { h, show, message } from '../dom.js';
import { when, won } from '../format.js';
import { describe } from '../messages.js';
import { requireUser } from '../router.js';
import { newKey } from '../state.js';

const KINDS = { charge: 'Top-up', payment: 'Payment', refund: 'Refund' };
const QUICK_AMOUNTS = [50000, 100000, 200000];

export function render(root) {
  if (!requireUser()) return;
  let stopped = false;
  // A top-up's key is kept until it succeeds, or until the amount changes, so a retry never charges twice.
  let pending = { key: null, amount: null };
  const balance = h('strong', { class: 'balance', 'data-testid': 'balance' }, '…');
  const status = h('div', { 'aria-live': 'polite', 'data-testid': 'wallet-status' });
  const ledger = h('div', { class: 'ledger' });
  const amount = h('input', { id: 'amount', name: 'amount', type: 'number', min: 1, max: 10000000, step: 1, required: true, inputmode: 'numeric', placeholder: '100000' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Top up');
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'top-up-title' },
    h('h2', { id: 'top-up-title' }, 'Top up ', h('span', { lang: 'ko', class: 'sub' }, '충전')),
    h('label', { for: 'amount' }, 'Amount in won'), amount,
    h('div', { class: 'quick' }, QUICK_AMOUNTS.map((value) =>
      h('button', { type: 'button', class: 'secondary small', onclick: () => { amount.value = value; amount.focus(); } }, `+${won(value)}`))),
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = Number(amount.value);
    if (!Number.isSafeInteger(value) || value <= 0) { show(status, message('error', describe({ code: 'invalid_amount' }))); return; }
    submit.disabled = true;
    if (pending.amount !== value) pending = { key: newKey(), amount: value };
    try {
      const { data } = await api.topUp(value, pending.key);
      pending = { key: null, amount: null };
      if (stopped) return;
      amount.value = '';
      show(status, message('success', `Topped up ${won(value)}. Your balance is ${won(data.balance)}.`));
      await load();
    } catch (error) {
      if (stopped) return;
      show(status, message('error', describe(error, { action: 'top-up' })));
    }
    submit.disabled = false;
  });

  show(root,
    h('h1', {}, 'Wallet ', h('span', { lang: 'ko', class: 'sub' }, '지갑')),
    h('p', { class: 'big' }, 'Balance: ', balance),
    status, form,
    h('h2', {}, 'History'), ledger);

  async function load() {
    try {
      const [wallet, entries] = await Promise.all([api.wallet(), api.ledger()]);
      if (stopped) return;
      balance.textContent = won(wallet.data.balance);
      if (!entries.data.length) { show(ledger, h('p', { class: 'muted' }, 'Nothing yet: top up to get started.')); return; }
      show(ledger, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'What'),
          h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col', class: 'num' }, 'Balance after'))),
        h('tbody', {}, entries.data.map((entry) => h('tr', { dataset: { kind: entry.kind } },
          h('td', {}, when(entry.createdAt)),
          h('td', {}, KINDS[entry.kind] || entry.kind,
            entry.reservationId ? [' · ', h('a', { href: `#/reservations/${entry.reservationId}` }, 'reservation')] : null),
          h('td', { class: `num ${entry.kind === 'payment' ? 'minus' : 'plus'}` }, `${entry.kind === 'payment' ? '−' : '+'}${won(entry.amount)}`),
          h('td', { class: 'num' }, won(entry.balanceAfter)))))));
    } catch (error) {
      if (!stopped) show(status, message('error', describe(error, { action: 'load' })));
    }
  }

  load();
  return () => { stopped = true; };
}
