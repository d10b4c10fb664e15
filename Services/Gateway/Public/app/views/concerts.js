// The concert list: public, the first thing anyone sees.
import { api } from '../api.js';
import { h, show, message } from '../dom.js';
import { describe } from '../messages.js';
import { session } from '../state.js';

export function render(root) {
  show(root, h('h1', {}, 'Concerts ', h('span', { lang: 'ko', class: 'sub' }, '공연')), h('p', { class: 'muted' }, 'Loading concerts…'));
  let stopped = false;
  api.concerts().then(({ data }) => {
    if (stopped) return;
    const intro = session.user
      ? h('p', { class: 'lead' }, `Hello, ${session.user.name}. Choose a concert to join its waiting room.`)
      : h('p', { class: 'lead' }, 'Choose a concert. You will sign up, wait your turn, pick a seat and pay from your wallet.');
    const cards = data.map((concert) => h('li', { class: 'card concert' },
      h('h2', {}, concert.title),
      h('p', {}, concert.description),
      h('a', {
        class: 'button primary', href: `#/concerts/${concert.id}/queue`,
        'aria-label': `Get tickets for ${concert.title}`,
      }, 'Get tickets')));
    show(root,
      h('h1', {}, 'Concerts ', h('span', { lang: 'ko', class: 'sub' }, '공연')),
      intro,
      data.length ? h('ul', { class: 'cards' }, cards) : h('p', {}, 'No concerts are on sale yet.'));
  }).catch((error) => {
    if (!stopped) show(root, h('h1', {}, 'Concerts'), message('error', describe(error, { action: 'load' })));
  });
  return () => { stopped = true; };
}
