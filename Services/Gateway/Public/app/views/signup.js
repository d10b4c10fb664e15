// Sign up with a name (the API key it answers is kept in this browser), or sign in with a key.
import { api } from '../api.js';
import { h, show, message } from '../dom.js';
import { describe } from '../messages.js';
import { go } from '../router.js';
import { session } from '../state.js';

export function render(root, route) {
  const next = route.query.get('next') || '#/';
  const status = h('div', { 'aria-live': 'polite' });
  const nameInput = h('input', { id: 'name', name: 'name', required: true, maxlength: 50, autocomplete: 'name', placeholder: '김민지 or Minji Kim' });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signup-title' },
    h('h1', { id: 'signup-title' }, 'Sign up ', h('span', { lang: 'ko', class: 'sub' }, '가입')),
    h('p', {}, 'Just a name: this browser keeps your key, so you stay signed in here.'),
    h('label', { for: 'name' }, 'Your name'), nameInput,
    status,
    h('button', { class: 'primary', type: 'submit' }, 'Create my account'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) { show(status, message('error', 'Enter your name.')); return; }
    form.querySelector('button').disabled = true;
    try {
      const { data } = await api.signUp(name);
      session.signIn({ id: data.id, name: data.name, apiKey: data.apiKey });
      go(next, { kind: 'success', text: `Welcome, ${data.name}! You are signed in.` });
    } catch (error) {
      show(status, message('error', describe(error, { action: 'sign-up' })));
      form.querySelector('button').disabled = false;
    }
  });

  const keyInput = h('input', { id: 'api-key', name: 'apiKey', required: true, autocomplete: 'off', spellcheck: 'false' });
  const keyStatus = h('div', { 'aria-live': 'polite' });
  const keyForm = h('form', { class: 'card narrow' },
    h('h2', {}, 'Already have a key?'),
    h('label', { for: 'api-key' }, 'Your API key'), keyInput, keyStatus,
    h('button', { type: 'submit' }, 'Sign in with this key'));
  keyForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const apiKey = keyInput.value.trim();
    if (!apiKey) { show(keyStatus, message('error', 'Paste your key first.')); return; }
    try {
      // Checked with the key itself: whoever is signed in now stays so until it works.
      const { data } = await api.me(apiKey);
      session.signIn({ id: data.id, name: data.name, apiKey });
      go(next, { kind: 'success', text: `Welcome back, ${data.name}.` });
    } catch (error) {
      show(keyStatus, message('error', error.code === 'unauthorized' ? 'That key is not one we know.' : describe(error)));
    }
  });
  show(root, form, h('details', { class: 'narrow' }, h('summary', {}, 'Sign in with an existing key'), keyForm));
  nameInput.focus();
}
