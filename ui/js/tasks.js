// tasks.js: the task table. Rows come from the informer (list + watch)
// and change in place as events arrive; usage columns from /v1/usage.

import { age, bytes, cores, displayState, h, selector } from './format.js';
import { chart } from './spark.js';
import { poll } from './usage.js';

const STATES = ['Pending', 'Scheduled', 'Running', 'Completed', 'Failed', 'Terminating'];
const COLUMNS = [
  ['Name', ''], ['State', ''], ['Reason', ''], ['Restarts', 'num'], ['Age', 'num col-age'],
  ['Ports', ''], ['CPU', 'num'], ['Memory', 'num'], ['Memory (recent)', 'col-spark'],
];

/** portLinks renders published ports; a wildcard host IP links to the page's own host. */
export function portLinks(t) {
  // Docker publishes on IPv4 and IPv6 alike: one link per host port.
  const seen = new Set();
  const ports = ((t.status && t.status.hostPorts) || []).filter((p) => {
    const key = `${p.hostPort}/${p.containerPort}/${p.protocol}`;
    return !seen.has(key) && seen.add(key);
  });
  return ports.map((p, i) => {
    const proto = (p.protocol || 'TCP').toLowerCase();
    const text = `${p.hostPort}→${p.containerPort}/${proto}`;
    const host = !p.hostIP || p.hostIP === '0.0.0.0' || p.hostIP === '::' ? location.hostname : p.hostIP;
    const node = proto === 'tcp'
      ? h('a', { href: `http://${host.includes(':') ? `[${host}]` : host}:${p.hostPort}/`, target: '_blank', rel: 'noopener noreferrer' }, text)
      : text;
    return i ? [', ', node] : [node];
  }).flat();
}

export function tasksView(root, informer, params) {
  const rows = new Map(); // name -> { tr, cells }
  let usage = new Map();
  let match = () => true;
  let stateFilter = params.get('state') || '';
  const labelInput = h('input', { type: 'search', id: 'label-filter', placeholder: 'app=web,tier!=db', value: params.get('labels') || '',
    'aria-describedby': 'label-error', spellcheck: 'false' });
  const labelError = h('span', { id: 'label-error', class: 'error', role: 'status' });
  const stateSelect = h('select', { id: 'state-filter' }, h('option', { value: '' }, 'any'),
    STATES.map((s) => h('option', { value: s, selected: s === stateFilter }, s)));
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', hidden: true });
  const count = h('span', { class: 'reason', 'aria-live': 'polite' });

  root.replaceChildren(
    h('h1', {}, 'Tasks', count),
    h('div', { class: 'filters', role: 'search' },
      h('label', { for: 'label-filter' }, 'Label selector (press / to focus)', labelInput),
      h('label', { for: 'state-filter' }, 'State', stateSelect),
      labelError),
    h('table', { id: 'tasks' },
      h('thead', {}, h('tr', {}, COLUMNS.map(([n, cls]) => h('th', { scope: 'col', class: cls }, n)))),
      tbody),
    empty,
  );

  const applyFilter = () => {
    try {
      match = selector(labelInput.value);
      labelError.textContent = '';
    } catch (e) {
      labelError.textContent = `Label selector: ${e.message}`;
      return;
    }
    stateFilter = stateSelect.value;
    const q = new URLSearchParams();
    if (labelInput.value) q.set('labels', labelInput.value);
    if (stateFilter) q.set('state', stateFilter);
    history.replaceState(null, '', `#/${q.size ? `?${q}` : ''}`);
    renderAll();
  };
  labelInput.addEventListener('input', applyFilter);
  stateSelect.addEventListener('change', applyFilter);

  const visible = (t) => match(t.metadata.labels) && (!stateFilter || displayState(t) === stateFilter);

  function fill(row, t, now) {
    const c = row.cells;
    const state = displayState(t);
    row.tr.dataset.state = state;
    c.state.textContent = state;
    c.reason.textContent = (t.status && t.status.reason) || '';
    c.restarts.textContent = String((t.status && t.status.restartCount) || 0);
    c.age.textContent = age(t.metadata.creationTimestamp, now);
    c.age.title = t.metadata.creationTimestamp || '';
    c.ports.replaceChildren(...portLinks(t));
    fillUsage(row, t.metadata.name);
  }

  function fillUsage(row, name) {
    const u = usage.get(name);
    const cur = u && u.current;
    row.cells.cpu.textContent = cur ? cores(cur.cpuCores) : '—';
    row.cells.mem.textContent = cur ? bytes(cur.memoryBytes) : '—';
    const samples = (u && u.samples) || [];
    row.cells.spark.replaceChildren(chart(samples.map((s) => s.memoryBytes),
      { max: u && u.limits.memoryBytes, label: `memory of ${name}, last ${samples.length} readings` }));
  }

  function newRow(t) {
    const name = t.metadata.name;
    const cells = {
      name: h('td', {}, h('a', { href: `#/tasks/${encodeURIComponent(name)}` }, name)),
      state: h('td', { class: 'state' }), reason: h('td', { class: 'reason' }),
      restarts: h('td', { class: 'num' }), age: h('td', { class: 'num col-age' }),
      ports: h('td'), cpu: h('td', { class: 'num' }), mem: h('td', { class: 'num' }),
      spark: h('td', { class: 'col-spark' }),
    };
    for (const [k, td] of Object.entries(cells)) td.dataset.col = k; // stable hooks for tests and styles
    const tr = h('tr', { 'data-name': name }, Object.values(cells));
    return { tr, cells };
  }

  // place keeps rows in name order: insert before the first larger name.
  function place(row, name) {
    let next = null;
    for (const [n, r] of rows) if (n > name && r.tr.isConnected && (!next || n < next[0])) next = [n, r];
    tbody.insertBefore(row.tr, next ? next[1].tr : null);
  }

  function upsert(t, flash) {
    const name = t.metadata.name;
    let row = rows.get(name);
    if (!visible(t)) {
      if (row) { row.tr.remove(); rows.delete(name); }
      return;
    }
    if (!row) {
      row = newRow(t);
      rows.set(name, row);
      place(row, name);
    }
    fill(row, t, Date.now());
    if (flash) { row.tr.classList.remove('flash'); void row.tr.offsetWidth; row.tr.classList.add('flash'); }
  }

  function renderAll() {
    for (const [, r] of rows) r.tr.remove();
    rows.clear();
    for (const name of [...informer.items.keys()].sort()) upsert(informer.items.get(name), false);
    updateCount();
  }

  function updateCount() {
    const total = informer.items.size;
    count.textContent = informer.synced ? `${rows.size} of ${total}` : '';
    empty.hidden = rows.size > 0 || !informer.synced;
    empty.textContent = total ? 'No task matches the filters.' : 'No tasks yet. Apply one from the Apply page or with `cubelet apply -f`.';
  }

  const unsubscribe = informer.subscribe((type, t) => {
    if (type === 'SYNC') { renderAll(); return; }
    if (type === 'DELETED') {
      const row = rows.get(t.metadata.name);
      if (row) { row.tr.remove(); rows.delete(t.metadata.name); }
    } else {
      upsert(t, true);
    }
    updateCount();
  });

  const stopUsage = poll('/v1/usage?samples=true', (l) => {
    usage = new Map(l.items.map((u) => [u.name, u]));
    for (const [name, row] of rows) fillUsage(row, name);
  });
  const ages = setInterval(() => {
    const now = Date.now();
    for (const [name, row] of rows) {
      const t = informer.items.get(name);
      if (t) row.cells.age.textContent = age(t.metadata.creationTimestamp, now);
    }
  }, 5000);
  const slash = (e) => {
    if (e.key === '/' && !['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement.tagName)) {
      e.preventDefault();
      labelInput.focus();
    }
  };
  document.addEventListener('keydown', slash);

  applyFilter();
  return () => { unsubscribe(); stopUsage(); clearInterval(ages); document.removeEventListener('keydown', slash); };
}
