// apply.js: the apply editor. It reads YAML (documents separated by
// ---) or JSON, each document one task, an array of tasks or a TaskList,
// PUTs each task to /v1/tasks/{name} as JSON, as `cubelet apply` does
// (the API takes JSON only, handlers/decode.go: the conversion happens
// here, on the client), and shows the server's answer per task: created,
// configured, or its error with the 422 causes per field.

import { ApiError, call, taskPath } from './api.js';
import { h, toYAML } from './format.js';
import { parseYAML } from './yaml.js';

const EXAMPLE = {
  apiVersion: 'cubelet/v1',
  kind: 'Task',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { image: 'nginx:1.27', ports: [{ containerPort: 80, hostPort: 8080 }], resources: { memory: '64Mi', cpu: '500m' } },
};

function tasksOf(doc) {
  if (Array.isArray(doc)) return doc;
  if (doc && Array.isArray(doc.items)) return doc.items;
  return [doc];
}

export function applyView(root) {
  const editor = h('textarea', { class: 'editor', id: 'apply-editor', spellcheck: 'false', 'aria-label': 'Tasks as YAML or JSON',
    'aria-describedby': 'apply-help' });
  editor.value = sessionStorage.getItem('cubelet.apply') || `${toYAML(EXAMPLE)}\n`;
  const results = h('div', { id: 'apply-results', role: 'status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', id: 'apply-submit' }, 'Apply');

  const form = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    sessionStorage.setItem('cubelet.apply', editor.value);
    results.replaceChildren();
    let docs;
    try {
      // JSON is YAML too, but JSON.parse reports JSON's errors better.
      docs = /^\s*[[{]/.test(editor.value) ? [JSON.parse(editor.value)] : parseYAML(editor.value);
    } catch (err) {
      results.append(h('p', { class: 'error' }, `Cannot read the manifest: ${err.message}`));
      return;
    }
    submit.disabled = true;
    try {
      for (const t of docs.flatMap(tasksOf)) results.append(await applyOne(t));
    } finally {
      submit.disabled = false;
    }
  } },
  editor,
  h('p', { id: 'apply-help', class: 'reason' },
    'YAML (several documents separated by ---) or JSON: a task, a list of tasks or a TaskList, each sent to the API as JSON. Ctrl+Enter applies.'),
  h('div', { class: 'actions' }, submit));
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });

  root.replaceChildren(h('h1', {}, 'Apply'), form, results);
  editor.focus();
  return () => {};
}

async function applyOne(t) {
  const name = t && t.metadata && t.metadata.name;
  if (!name) return h('p', { class: 'error' }, 'A task has no metadata.name.');
  try {
    const { status } = await call('PUT', taskPath(name), t);
    return h('p', { class: 'result-ok' }, h('a', { href: `#/tasks/${encodeURIComponent(name)}` }, `task/${name}`),
      status === 201 ? ' created' : ' configured');
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    const causes = e.causes;
    return h('div', { class: 'error', 'data-task': name },
      // With causes the message only repeats them: the list says it better.
      h('p', {}, `task/${name}: ${e.status} ${e.body.reason || ''}${causes.length ? '' : `: ${e.message}`}`),
      causes.length ? h('ul', { class: 'causes' }, causes.map((c) =>
        h('li', { 'data-field': c.field || '' }, h('code', {}, c.field || '(object)'), `: ${c.message}`))) : null);
  }
}
