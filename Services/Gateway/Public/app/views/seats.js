// The seat map of one date: an SVG of every seat by number, price and status, and the same seats
// as a plain list (the layout on narrow screens). It follows other people's holds and sales by
// asking again every second with the list's ETag, so an unchanged map costs a 304; it shows only
// what the server answered, so a change is never shown before it is committed.
import { api } from '../api.js';
import { h, s, show, message } from '../dom.js';
import { when, won } from '../format.js';
import { describe } from '../messages.js';
import { go, requireUser } from '../router.js';
import { session } from '../state.js';

const COLUMNS = 10;
const SEAT = { width: 40, height: 34, gap: 8, top: 56 };
const REFRESH_MS = 1000;
const STATUS_WORDS = { available: 'available', reserving: 'held by someone', sold: 'sold' };

/** "Seat 7, 1,500 won, available": what a screen reader says, and what tests look for. */
export function seatLabel(seat) {
  return `Seat ${seat.number}, ${won(seat.price)}, ${STATUS_WORDS[seat.status] || seat.status}`;
}

export function render(root, route) {
  if (!requireUser()) return;
  const scheduleId = route.id;
  const concertId = Number(route.query.get('concert')) || session.schedule(scheduleId)?.concertId || null;
  const queuePage = concertId ? `#/concerts/${concertId}/queue` : '#/';
  let seats = [];
  let etag = null;
  let selectedId = null;
  let holding = false;
  let stopped = false;
  let timer = null;
  let listLayout = false;
  // Each refresh chain has a number; a newer chain makes an older answer void.
  let generation = 0;
  let drawnSelection;
  let chosenNumber = null;
  let warned = false;

  const status = h('div', { class: 'seat-status', 'aria-live': 'polite', 'data-testid': 'seat-status' });
  const mapBox = h('div', { class: 'seat-map', 'data-testid': 'seat-map', tabindex: -1 });
  const listBox = h('ul', { class: 'seat-list', 'data-testid': 'seat-list', 'aria-label': 'Seats as a list' });
  const selection = h('section', { class: 'selection', 'aria-live': 'polite', 'data-testid': 'selection', tabindex: -1 });
  const toggle = h('button', { type: 'button', class: 'link layout-toggle', onclick: () => setLayout(!listLayout) }, 'Show the seats as a list');
  const seatsBox = h('div', { class: 'seats' }, mapBox, listBox);
  const legendBox = h('ul', { class: 'legend', 'aria-label': 'What the colours mean' });
  const date = session.schedule(scheduleId);

  show(root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Concerts'), ' › ',
      concertId ? h('a', { href: `#/concerts/${concertId}` }, 'Dates') : 'Dates', ' › Seats'),
    h('h1', {}, 'Choose a seat ', h('span', { lang: 'ko', class: 'sub' }, '좌석 선택')),
    date ? h('p', { class: 'lead' }, when(date.startsAt)) : null,
    legendBox,
    toggle,
    // Every free seat is a Tab stop; this lets keyboard users past all of them at once.
    h('a', { class: 'skip-seats', href: '#', onclick: (event) => { event.preventDefault(); selection.focus(); } }, 'Skip past the seats'),
    status,
    seatsBox,
    selection);

  function setLayout(list) {
    listLayout = list;
    seatsBox.classList.toggle('as-list', list);
    toggle.textContent = list ? 'Show the seat map' : 'Show the seats as a list';
  }

  function selected() { return seats.find((seat) => seat.id === selectedId) || null; }

  function choose(seat) {
    // While a hold is on its way, nothing else can be chosen (no second hold by a stray click).
    if (holding || seat.status !== 'available') return;
    selectedId = seat.id;
    chosenNumber = seat.number;
    show(status);
    draw();
    selection.querySelector('button.primary')?.focus();
  }

  /** Arrow keys move between available seats: left and right by number, up and down by row. */
  function neighbour(seat, key) {
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -COLUMNS, ArrowDown: COLUMNS }[key];
    const byNumber = new Map(seats.map((item) => [item.number, item]));
    const last = Math.max(...seats.map((item) => item.number));
    for (let number = seat.number + step; number >= 1 && number <= last; number += step) {
      const candidate = byNumber.get(number);
      if (candidate && candidate.status === 'available') return candidate;
    }
    return null;
  }

  function onSeatKey(event, seat) {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      choose(seat);
    } else if (event.key.startsWith('Arrow')) {
      event.preventDefault();
      const next = neighbour(seat, event.key);
      if (next) mapBox.querySelector(`[data-seat-id="${next.id}"]`)?.focus();
    }
  }

  function drawMap(tiers) {
    const rows = Math.ceil(Math.max(1, ...seats.map((seat) => seat.number)) / COLUMNS);
    const width = COLUMNS * (SEAT.width + SEAT.gap) + SEAT.gap;
    const height = SEAT.top + rows * (SEAT.height + SEAT.gap) + SEAT.gap;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Seat map: the stage is at the top' },
      s('rect', { class: 'stage', x: SEAT.gap, y: 8, width: width - 2 * SEAT.gap, height: 30, rx: 6 }),
      s('text', { class: 'stage-label', x: width / 2, y: 28, 'text-anchor': 'middle' }, 'STAGE · 무대'));
    for (const seat of seats) {
      const index = seat.number - 1;
      const x = SEAT.gap + (index % COLUMNS) * (SEAT.width + SEAT.gap);
      const y = SEAT.top + Math.floor(index / COLUMNS) * (SEAT.height + SEAT.gap);
      const free = seat.status === 'available';
      const mine = seat.id === selectedId;
      const group = s('g', {
        class: `seat ${seat.status} tier-${tiers.get(seat.price)}${mine ? ' selected' : ''}`,
        role: free ? 'button' : 'img', tabindex: free ? 0 : null, 'aria-label': seatLabel(seat),
        'aria-pressed': free ? String(mine) : null,
        dataset: { seatId: seat.id, number: seat.number, status: seat.status },
      },
      s('title', {}, seatLabel(seat)),
      s('rect', { x, y, width: SEAT.width, height: SEAT.height, rx: 7 }),
      s('text', { x: x + SEAT.width / 2, y: y + SEAT.height / 2 + 5, 'text-anchor': 'middle', 'aria-hidden': 'true' }, seat.status === 'sold' ? '×' : seat.number));
      if (free) {
        group.addEventListener('click', () => choose(seat));
        group.addEventListener('keydown', (event) => onSeatKey(event, seat));
      }
      svg.append(group);
    }
    const focusedId = Number(document.activeElement?.closest?.('.seat-map [data-seat-id]')?.dataset.seatId);
    show(mapBox, svg);
    if (focusedId) {
      // Keep the keyboard where it was; if that seat was just taken, move to the nearest free one.
      const seat = seats.find((item) => item.id === focusedId);
      const target = seat && seat.status === 'available' ? seat : seat && (neighbour(seat, 'ArrowRight') || neighbour(seat, 'ArrowLeft'));
      const element = target && mapBox.querySelector(`[data-seat-id="${target.id}"]`);
      if (element) element.focus(); else mapBox.focus();
    }
  }

  function drawList() {
    const focusedId = document.activeElement?.closest?.('.seat-list [data-seat-id]')?.dataset.seatId;
    show(listBox, seats.map((seat) => {
      const free = seat.status === 'available';
      return h('li', { class: `${seat.status}${seat.id === selectedId ? ' selected' : ''}`, dataset: { seatId: seat.id, number: seat.number, status: seat.status } },
        h('span', { class: 'seat-name' }, `Seat ${seat.number}`),
        h('span', { class: 'seat-about' }, `${won(seat.price)} · ${STATUS_WORDS[seat.status]}`),
        free ? h('button', {
          type: 'button', 'aria-pressed': String(seat.id === selectedId), 'aria-label': `Choose ${seatLabel(seat)}`,
          dataset: { seatId: seat.id }, onclick: () => choose(seat),
        }, seat.id === selectedId ? 'Chosen' : 'Choose') : null);
    }));
    if (focusedId) listBox.querySelector(`button[data-seat-id="${focusedId}"]`)?.focus();
  }

  function drawSelection() {
    const seat = selected();
    selection.classList.toggle('chosen', Boolean(seat));
    if (!seat) {
      show(selection, h('p', { class: 'muted' }, 'Choose an available seat on the map or in the list.'));
      return;
    }
    const holdButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'hold', onclick: () => holdSeat(seat) }, `Hold seat ${seat.number}`);
    show(selection,
      h('h2', {}, `Seat ${seat.number} · ${won(seat.price)}`),
      h('p', {}, 'Holding a seat keeps it for you for a few minutes while you pay. Nobody else can take it meanwhile.'),
      h('div', { class: 'actions' }, holdButton,
        h('button', { type: 'button', class: 'secondary', onclick: () => { selectedId = null; draw(); } }, 'Choose another')));
  }

  function draw() {
    const prices = [...new Set(seats.map((seat) => seat.price))].sort((a, b) => b - a);
    const tiers = new Map(prices.map((price, index) => [price, Math.min(index, 3)]));
    drawLegend(prices);
    drawMap(tiers);
    drawList();
    // The Hold button is rebuilt only when the choice changes, so focus and a click on it survive
    // other people's changes to the map.
    if (drawnSelection !== selectedId) {
      drawnSelection = selectedId;
      drawSelection();
    }
  }

  function lost(number) {
    show(status, message('error', describe({ code: 'seat_unavailable' }, { seatNumber: number })));
  }

  /** Starts a new refresh chain now; an older request still on its way is ignored when it lands. */
  function refreshNow() {
    clearTimeout(timer);
    generation += 1;
    refresh(generation);
  }

  async function refresh(chain) {
    try {
      const answer = await api.seats(scheduleId, etag);
      if (stopped || holding || chain !== generation) return;
      if (warned) { show(status); warned = false; }
      if (!answer.notModified) {
        seats = answer.data.seats;
        etag = answer.etag;
        const mine = selected();
        if (selectedId !== null && (!mine || mine.status !== 'available')) {
          lost(chosenNumber);
          selectedId = null;
        }
        draw();
      }
    } catch (error) {
      if (stopped || holding || chain !== generation) return;
      if (error.needsQueue) { go(queuePage, { kind: 'info', text: describe(error) }); return; }
      if (error.code === 'unauthorized' || error.code === 'not_found') {
        show(status, message('error', describe(error, { action: 'load' })), h('p', {}, h('a', { href: '#/' }, 'Back to the concerts')));
        return;
      }
      show(status, message('warning', describe(error, { action: 'load' }), ' We will keep trying.'));
      warned = true;
    }
    if (!stopped && chain === generation) timer = setTimeout(() => refresh(chain), REFRESH_MS);
  }

  async function holdSeat(seat) {
    holding = true;
    selection.querySelectorAll('button').forEach((button) => { button.disabled = true; });
    show(status, message('info', `Holding seat ${seat.number}…`));
    try {
      const { data } = await api.hold(seat.id);
      if (stopped) return;
      go(`#/reservations/${data.id}`, { kind: 'success', text: `Seat ${seat.number} is yours for now. Pay before the time runs out.` });
    } catch (error) {
      holding = false;
      if (stopped) return;
      if (error.needsQueue) { go(queuePage, { kind: 'info', text: describe(error) }); return; }
      selectedId = null;
      show(status, message('error', describe(error, { seatNumber: seat.number, action: 'hold' })));
      if (error.code === 'hold_limit') status.append(h('p', {}, h('a', { href: '#/reservations' }, 'See your reservations')));
      draw();
      refreshNow();
    }
  }

  /** The colours of the map: one per price, then held, sold and the seat chosen. */
  function drawLegend(prices) {
    show(legendBox,
      prices.map((price, index) => h('li', {}, h('span', { class: `swatch tier-${Math.min(index, 3)}` }), won(price))),
      h('li', {}, h('span', { class: 'swatch reserving' }), 'Held by someone'),
      h('li', {}, h('span', { class: 'swatch sold' }), 'Sold'),
      h('li', {}, h('span', { class: 'swatch selected' }), 'Your choice'));
  }

  refreshNow();
  return () => { stopped = true; clearTimeout(timer); };
}
