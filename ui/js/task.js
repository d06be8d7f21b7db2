// task.js: one task: status, conditions, transitions, usage charts, the
// live log, the spec as YAML, and the actions (stop, start, restart,
// delete), each confirmed first. The task itself comes from the informer,
// so the page follows every change without reloading.

import { ApiError, request, stream, taskPath, updateSpec } from './api.js';
import { age, bytes, cores, displayState, h, toYAML } from './format.js';
import { chart } from './spark.js';
import { poll } from './usage.js';
import { portLinks } from './tasks.js';

const MAX_LOG_CHARS = 512 * 1024; // keep the DOM bounded on a chatty task

export function taskView(root, informer, name, { showError, clearError }) {
  const title = h('span', {}, name);
  const state = h('span', { class: 'state' });
  const status = h('dl', { class: 'kv' });
  const conditions = h('div');
  const timeline = h('ol', { class: 'timeline' });
  const spec = h('pre', { class: 'spec', tabindex: '0', 'aria-label': 'spec as YAML' });
  const cpuChart = h('div');
  const memChart = h('div');
  const cpuNow = h('span');
  const memNow = h('span');
  const logPre = h('pre', { class: 'log', id: 'log', tabindex: '0', 'aria-label': 'container log', 'aria-live': 'off' });
  const logNote = h('span', { class: 'muted', role: 'status' });
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  const missing = h('p', { class: 'empty', hidden: true }, `Task ${name} does not exist (or was deleted).`);

  const act = (label, cls, confirmText, fn) => h('button', { type: 'button', class: cls, 'data-action': label.toLowerCase(),
    onclick: async (e) => {
      if (!confirm(confirmText)) return;
      const btn = e.currentTarget;
      btn.disabled = true;
      clearError();
      try { await fn(); } catch (err) { showError(`${label} ${name}: ${err.message}`); } finally { btn.disabled = false; }
    } }, label);
  const actions = h('div', { class: 'actions' },
    act('Stop', '', `Stop ${name}? Its container gets SIGTERM and the task ends Completed (spec.desiredState=Completed).`,
      () => updateSpec(name, (s) => { s.desiredState = 'Completed'; })),
    act('Start', '', `Start ${name} again (spec.desiredState=Running)?`,
      () => updateSpec(name, (s) => { s.desiredState = 'Running'; })),
    act('Restart', '', `Restart ${name} with a new container (bump spec.restartGeneration)?`,
      () => updateSpec(name, (s) => { s.restartGeneration = (s.restartGeneration || 0) + 1; })),
    act('Delete', 'danger', `Delete ${name}? Its containers are stopped and removed.`,
      async () => { await request('DELETE', taskPath(name)); }),
  );
  const logPrevious = h('button', { type: 'button', id: 'log-previous', onclick: () => startLog(!previous) }, 'Previous attempt');

  root.replaceChildren(
    h('p', {}, h('a', { href: '#/' }, '← Tasks')),
    h('h1', {}, title, state, actions),
    missing,
    h('div', { class: 'grid' },
      h('section', { 'aria-labelledby': 'h-status' }, h('h2', { id: 'h-status' }, 'Status'), status),
      h('section', { 'aria-labelledby': 'h-trans' }, h('h2', { id: 'h-trans' }, 'Transitions'), timeline)),
    h('section', { 'aria-labelledby': 'h-cond' }, h('h2', { id: 'h-cond' }, 'Conditions'), conditions),
    h('section', { 'aria-labelledby': 'h-usage' }, h('h2', { id: 'h-usage' }, 'Usage'),
      h('div', { class: 'charts' },
        h('figure', {}, h('figcaption', {}, 'CPU (cores) ', cpuNow), cpuChart),
        h('figure', {}, h('figcaption', {}, 'Memory ', memNow), memChart))),
    h('section', { 'aria-labelledby': 'h-log' }, h('h2', { id: 'h-log' }, 'Log'),
      h('div', { class: 'logbar' }, h('label', {}, follow, ' follow'), logPrevious, logNote), logPre),
    h('section', { 'aria-labelledby': 'h-spec' }, h('h2', { id: 'h-spec' }, 'Spec'), spec),
  );

  // ---- log ----
  let logAbort = null;
  let logContainer = '';
  let previous = false;
  function startLog(prev) {
    if (logAbort) logAbort.abort();
    previous = prev;
    logPrevious.textContent = previous ? 'Current attempt' : 'Previous attempt';
    logPre.textContent = '';
    const ctrl = new AbortController();
    logAbort = ctrl;
    const q = previous ? 'previous=true&tail=1000' : 'follow=true&tail=1000';
    logNote.textContent = previous ? 'previous attempt' : 'following';
    stream(`${taskPath(name)}/logs?${q}`, ctrl.signal, (chunk) => {
      const stick = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 4;
      let text = logPre.textContent + chunk;
      if (text.length > MAX_LOG_CHARS) text = text.slice(text.length - MAX_LOG_CHARS);
      logPre.textContent = text;
      if (follow.checked && stick) logPre.scrollTop = logPre.scrollHeight;
    }).then(() => {
      if (!ctrl.signal.aborted) logNote.textContent = previous ? 'previous attempt' : 'stream ended (container stopped)';
    }, (e) => {
      if (!ctrl.signal.aborted) logNote.textContent = e instanceof ApiError ? e.message : `log stream: ${e.message}`;
    });
  }

  // ---- render from the informer ----
  function render(t) {
    if (!t) {
      missing.hidden = false;
      actions.hidden = true;
      state.textContent = '';
      return;
    }
    missing.hidden = true;
    actions.hidden = false;
    const s = t.status || {};
    const st = displayState(t);
    state.textContent = st;
    state.dataset.state = st;
    const row = (k, v) => (v === undefined || v === null || v === '' ? [] : [h('dt', {}, k), h('dd', {}, v)]);
    status.replaceChildren(
      ...row('State', st), ...row('Reason', s.reason), ...row('Message', s.message),
      ...row('Container', s.containerName ? `${s.containerName} (${(s.containerID || '').slice(0, 12)})` : ''),
      ...row('Ports', (s.hostPorts || []).length ? h('span', {}, portLinks(t)) : ''),
      ...row('Restarts', String(s.restartCount || 0)), ...row('Exit code', s.exitCode),
      ...row('Started', s.startTime && `${s.startTime} (${age(s.startTime)} ago)`),
      ...row('Finished', s.finishTime), ...row('Next retry', s.nextRetryTime),
      ...row('Generation', `${t.metadata.generation} (observed ${s.observedGeneration || 0})`),
      ...row('Labels', Object.entries(t.metadata.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ')),
      ...row('UID', t.metadata.uid),
    );
    const conds = s.conditions || [];
    conditions.replaceChildren(conds.length
      ? h('table', {}, h('thead', {}, h('tr', {}, ['Type', 'Status', 'Reason', 'Message', 'Since'].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, conds.map((c) => h('tr', {}, h('td', {}, c.type), h('td', {}, c.status), h('td', {}, c.reason),
          h('td', {}, c.message || ''), h('td', { title: c.lastTransitionTime }, age(c.lastTransitionTime))))))
      : h('p', { class: 'empty' }, 'None yet.'));
    const trans = s.transitions || [];
    timeline.replaceChildren(...(trans.length ? trans.map((x) => h('li', {},
      h('time', { datetime: x.time }, new Date(x.time).toLocaleTimeString()),
      `${x.from || '∅'} → `, h('span', { class: 'state', 'data-state': x.to }, x.to), x.reason ? ` (${x.reason})` : ''))
      : [h('li', {}, 'No transitions yet.')]));
    spec.textContent = toYAML({ apiVersion: t.apiVersion, kind: t.kind,
      metadata: { name: t.metadata.name, ...(t.metadata.labels ? { labels: t.metadata.labels } : {}) }, spec: t.spec });
    // A new attempt has a new container: follow its log instead.
    if (!previous && s.containerID && s.containerID !== logContainer) {
      logContainer = s.containerID;
      startLog(false);
    }
  }

  const unsubscribe = informer.subscribe((type, t) => {
    if (type === 'SYNC') render(informer.items.get(name));
    else if (t.metadata.name === name) render(type === 'DELETED' ? null : t);
  });
  if (informer.synced) render(informer.items.get(name));

  const stopUsage = poll(`${taskPath(name)}/usage`, (u) => {
    const samples = u.samples || [];
    cpuChart.replaceChildren(chart(samples.map((x) => x.cpuCores), { width: 300, height: 90, cls: 'chart', max: u.limits.cpuCores, label: 'CPU over time' }));
    memChart.replaceChildren(chart(samples.map((x) => x.memoryBytes), { width: 300, height: 90, cls: 'chart', max: u.limits.memoryBytes, label: 'memory over time' }));
    const cur = u.current;
    cpuNow.textContent = cur ? `${cores(cur.cpuCores)}${u.limits.cpuCores ? ` of ${u.limits.cpuCores}` : ''}` : '—';
    memNow.textContent = cur ? `${bytes(cur.memoryBytes)}${u.limits.memoryBytes ? ` of ${bytes(u.limits.memoryBytes)}` : ''}` : '—';
    cpuNow.id = 'cpu-now';
    memNow.id = 'mem-now';
  });

  return () => { unsubscribe(); stopUsage(); if (logAbort) logAbort.abort(); };
}
