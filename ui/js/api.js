// api.js: the page's only door to cubelet, the same v1 API the CLI uses.
// Requests are same-origin (the guard refuses any other Origin) and send
// JSON with Content-Type application/json (it refuses anything else). A
// 401 asks for the bearer token once and keeps it in sessionStorage, so it
// lives as long as the tab and is never written to disk by the page.

const TOKEN_KEY = 'cubelet.token';

/** ApiError carries the server's metav1.Status (code, reason, message, causes). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get causes() { return (this.body.details && this.body.details.causes) || []; }
}

let tokenPrompt = null; // one prompt shared by every request that met a 401

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

// askToken shows the token dialog and resolves once a token was entered.
function askToken(failed) {
  if (tokenPrompt) return tokenPrompt;
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  const err = document.getElementById('token-error');
  err.hidden = !failed;
  err.textContent = failed ? 'That token was refused.' : '';
  input.value = '';
  tokenPrompt = new Promise((resolve) => {
    const done = () => {
      const v = input.value.trim();
      if (!v) { dialog.showModal(); return; } // Escape closes a modal: reopen, the API is useless without it
      sessionStorage.setItem(TOKEN_KEY, v);
      dialog.removeEventListener('close', done);
      tokenPrompt = null;
      resolve();
    };
    dialog.addEventListener('close', done);
    dialog.showModal();
    input.focus();
  });
  return tokenPrompt;
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// send performs fetch, asking for a token and retrying on 401.
async function send(path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const hadToken = token() !== '';
    const resp = await fetch(path, { ...init, headers: headers(init.headers), credentials: 'omit', cache: 'no-store' });
    if (resp.status !== 401) return resp;
    await resp.body?.cancel();
    await askToken(hadToken || attempt > 0);
  }
}

async function failure(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not a Status: keep the code */ }
  return new ApiError(resp.status, body);
}

/** call sends one request and returns { status, data }; a non-2xx throws ApiError. */
export async function call(method, path, body) {
  const init = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  const resp = await send(path, init);
  if (!resp.ok) throw await failure(resp);
  return { status: resp.status, data: resp.status === 204 ? null : await resp.json() };
}

/** request is call's decoded JSON alone. */
export async function request(method, path, body) {
  return (await call(method, path, body)).data;
}

export const getJSON = (path) => request('GET', path);

export function taskPath(name) { return `/v1/tasks/${encodeURIComponent(name)}`; }

/**
 * stream GETs path and calls onChunk with each piece of text as it
 * arrives, until the body ends or signal aborts. A non-2xx throws ApiError.
 */
export async function stream(path, signal, onChunk) {
  const resp = await send(path, { signal });
  if (!resp.ok) throw await failure(resp);
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onChunk(value);
    }
  } finally {
    reader.releaseLock();
  }
}

/** lines turns text chunks into whole lines (newline-delimited JSON). */
export function lines(onLine) {
  let rest = '';
  return (chunk) => {
    rest += chunk;
    let i;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      if (line.trim()) onLine(line);
    }
  };
}

/**
 * update is a read-modify-write of a task's spec with the read's
 * resourceVersion as precondition, retried on 409 as the CLI's stop does
 * (a status write may land between the read and the write).
 */
export async function updateSpec(name, mutate) {
  for (let attempt = 0; ; attempt++) {
    const t = await getJSON(taskPath(name));
    const spec = structuredClone(t.spec);
    mutate(spec);
    const body = {
      apiVersion: t.apiVersion, kind: t.kind,
      metadata: { name: t.metadata.name, labels: t.metadata.labels, annotations: t.metadata.annotations,
        resourceVersion: t.metadata.resourceVersion },
      spec,
    };
    try {
      return await request('PUT', taskPath(name), body);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 409 || attempt >= 4) throw e;
    }
  }
}
