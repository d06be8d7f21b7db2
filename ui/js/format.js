// format.js: small pure helpers: DOM building, numbers, ages, label
// selectors, and a YAML emitter for showing specs.

/** h builds an element; attrs starting with "on" are listeners; children are nodes or text. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** displayState is the state column: Terminating while being deleted, as the CLI shows it. */
export function displayState(t) {
  if (t.metadata.deletionTimestamp) return 'Terminating';
  return (t.status && t.status.state) || 'Pending';
}

export function age(ts, now = Date.now()) {
  if (!ts) return '';
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h`;
  return `${Math.floor(hr / 24)}d`;
}

/** cores renders CPU the way kubectl top does: millicores. */
export function cores(c) {
  if (c === undefined || c === null) return '—';
  return `${Math.round(c * 1000)}m`;
}

export function bytes(b) {
  if (b === undefined || b === null) return '—';
  const units = ['B', 'Ki', 'Mi', 'Gi', 'Ti'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return `${b >= 100 || i === 0 ? Math.round(b) : b.toFixed(1).replace(/\.0$/, "")}${units[i]}`;
}

/**
 * selector parses a Kubernetes label selector (k=v, k==v, k!=v, k, !k,
 * k in (a,b), k notin (a,b)) into a predicate over a labels object.
 * It throws on a malformed selector.
 */
export function selector(text) {
  const reqs = [];
  // Split on commas outside parentheses.
  const parts = text.match(/([^,(]|\([^)]*\))+/g) || [];
  for (let p of parts) {
    p = p.trim();
    if (!p) continue;
    let m;
    if ((m = p.match(/^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const vals = new Set(m[3].split(',').map((s) => s.trim()));
      const [k, neg] = [m[1], m[2] === 'notin'];
      reqs.push((l) => (k in l && vals.has(l[k])) !== neg);
    } else if ((m = p.match(/^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/))) {
      const [k, op, v] = [m[1], m[2], m[3]];
      reqs.push(op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v);
    } else if ((m = p.match(/^(!?)([\w./-]+)$/))) {
      const [neg, k] = [m[1] === '!', m[2]];
      reqs.push((l) => (k in l) !== neg);
    } else {
      throw new Error(`cannot parse "${p}"`);
    }
  }
  return (labels) => reqs.every((r) => r(labels || {}));
}

const plain = /^[A-Za-z0-9_./][A-Za-z0-9_ ./:-]*$/;
const reserved = /^(true|false|yes|no|on|off|y|n|null|~|[-+]?\.?[0-9][0-9_.eE+-]*)$/i;

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v);
  if (s !== '' && plain.test(s) && !reserved.test(s) && !s.endsWith(' ') && !s.includes(': ')) return s;
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

/** toYAML emits a JSON value as block YAML (what kubectl get -o yaml prints). */
export function toYAML(v, indent = '') {
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return v.map((x) => {
      const inner = toYAML(x, indent + '  ');
      return `${indent}- ${isBlock(x) ? inner.trimStart() : inner}`;
    }).join('\n');
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return '{}';
    return keys.map((k) => {
      const x = v[k];
      const key = `${indent}${scalar(k)}:`;
      if (isBlock(x)) return `${key}\n${toYAML(x, Array.isArray(x) ? indent : indent + '  ')}`;
      return `${key} ${toYAML(x, indent + '  ')}`;
    }).join('\n');
  }
  return scalar(v);
}

function isBlock(x) {
  return x !== null && typeof x === 'object' && Object.keys(x).length > 0;
}
