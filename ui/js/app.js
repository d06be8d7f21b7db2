// app.js: the dashboard's entry point: one informer for the whole page
// (list + watch of every task), a hash router over three views, and the
// shared error banner. Hash routes (#/, #/tasks/NAME, #/apply) keep the
// server to static files: every view is this one document.

import { Informer } from './informer.js';
import { tasksView } from './tasks.js';
import { taskView } from './task.js';
import { applyView } from './apply.js';

const main = document.getElementById('main');
const alertBox = document.getElementById('alert');
const conn = document.getElementById('conn');

function showError(text) { alertBox.textContent = text; alertBox.hidden = false; }
function clearError() { alertBox.hidden = true; alertBox.textContent = ''; }

const informer = new Informer();
informer.onState((s) => {
  conn.dataset.state = s;
  conn.textContent = { live: 'live', down: 'reconnecting…', connecting: 'connecting…' }[s] || s;
});
informer.run(new AbortController().signal);

let leave = () => {};
function route() {
  leave();
  clearError();
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query || '');
  const parts = (path || '/').split('/').filter(Boolean);
  let nav = 'tasks';
  if (parts[0] === 'tasks' && parts[1]) {
    const name = decodeURIComponent(parts[1]);
    document.title = `${name} · cubelet`;
    leave = taskView(main, informer, name, { showError, clearError });
  } else if (parts[0] === 'apply') {
    nav = 'apply';
    document.title = 'Apply · cubelet';
    leave = applyView(main);
  } else {
    document.title = 'Tasks · cubelet';
    leave = tasksView(main, informer, params);
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}
window.addEventListener('hashchange', () => { route(); main.focus({ preventScroll: true }); });
route();
