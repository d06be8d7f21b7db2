// yaml.js: a small YAML reader for the apply editor, enough for manifests:
// block mappings and sequences (a list may sit at its key's indent, as
// kubectl writes it), plain, quoted and block (| >) scalars, one-line flow
// collections ([a, b], {k: v}), comments and `---` between documents.
// Plain scalars resolve as sigs.k8s.io/yaml (YAML 1.1) does on the
// server's side of `cubelet apply`: null/~, true/false/yes/no/on/off,
// integers and floats; everything else is a string. Anchors, aliases,
// tags and multi-line plain or flow scalars are refused with the line
// number, never guessed at.

export function parseYAML(text) {
  const docs = [[]];
  for (const raw of text.split(/\r?\n/)) {
    if (/^---\s*(#.*)?$/.test(raw)) docs.push([]);
    else if (!/^\.\.\.\s*$/.test(raw)) docs[docs.length - 1].push(raw);
  }
  let base = 0;
  const out = [];
  for (const lines of docs) {
    const v = new Reader(lines, base).document();
    if (v !== undefined) out.push(v);
    base += lines.length + 1;
  }
  return out;
}

class Reader {
  constructor(raw, base) {
    this.raw = raw;
    this.base = base;
    this.i = 0;
  }

  fail(msg, i = this.i) { throw new Error(`YAML line ${this.base + i + 1}: ${msg}`); }

  // peek returns the next significant line as { indent, text }, skipping
  // blank and comment-only lines; null at the end.
  peek() {
    while (this.i < this.raw.length) {
      const line = this.raw[this.i];
      const text = stripComment(line).trimEnd();
      if (text.trim() !== '') {
        const indent = line.length - line.trimStart().length;
        if (line.slice(0, indent).includes('\t')) this.fail('tabs cannot indent YAML');
        return { indent, text: text.slice(indent) };
      }
      this.i++;
    }
    return null;
  }

  document() {
    const first = this.peek();
    if (!first) return undefined;
    const v = this.node(first.indent);
    if (this.peek()) this.fail('unexpected content (check the indentation)');
    return v;
  }

  node(indent) {
    const l = this.peek();
    if (!l || l.indent < indent) return null;
    if (isSeqItem(l.text)) return this.seq(l.indent);
    if (keyValue(l.text)) return this.map(l.indent);
    this.i++;
    return this.scalarOrBlock(l.text, l.indent);
  }

  map(indent, first) {
    const obj = {};
    for (let l = first || this.peek(); l && l.indent === indent && !isSeqItem(l.text); l = this.peek()) {
      const kv = keyValue(l.text);
      if (!kv) this.fail(`expected "key: value", found "${l.text}"`);
      const key = kv.key;
      if (Object.hasOwn(obj, key)) this.fail(`duplicate key "${key}"`);
      first = null;
      this.i++;
      if (kv.rest === '') {
        const next = this.peek();
        if (next && next.indent > indent) obj[key] = this.node(next.indent);
        else if (next && next.indent === indent && isSeqItem(next.text)) obj[key] = this.seq(indent);
        else obj[key] = null;
      } else {
        obj[key] = this.scalarOrBlock(kv.rest, indent);
        const next = this.peek();
        if (next && next.indent > indent) this.fail('unexpected indentation after a value');
      }
    }
    return obj;
  }

  seq(indent) {
    const arr = [];
    for (let l = this.peek(); l && l.indent === indent && isSeqItem(l.text); l = this.peek()) {
      const rest = l.text.slice(1).trimStart();
      const at = indent + (l.text.length - rest.length);
      if (rest === '') {
        this.i++;
        const next = this.peek();
        arr.push(next && next.indent > indent ? this.node(next.indent) : null);
      } else if (isSeqItem(rest)) {
        this.raw[this.i] = ' '.repeat(at) + rest; // "- - x": the inner list starts here
        arr.push(this.seq(at));
      } else if (keyValue(rest)) {
        // "- key: v" opens a mapping whose keys align with "key".
        arr.push(this.map(at, { indent: at, text: rest }));
      } else {
        this.i++;
        arr.push(this.scalarOrBlock(rest, indent));
      }
    }
    return arr;
  }

  scalarOrBlock(text, indent) {
    const m = text.match(/^([|>])([+-]?)$/);
    if (m) return this.block(m[1], m[2], indent);
    if (/^[&*!]/.test(text)) this.fail('anchors, aliases and tags are not supported', this.i - 1);
    try {
      return inline(text);
    } catch (e) {
      return this.fail(e.message, this.i - 1);
    }
  }

  // block reads a | or > scalar: the lines indented deeper than indent.
  block(style, chomp, indent) {
    const lines = [];
    let blockIndent = -1;
    while (this.i < this.raw.length) {
      const line = this.raw[this.i];
      const ind = line.length - line.trimStart().length;
      if (line.trim() === '') { lines.push(''); this.i++; continue; }
      if (ind <= indent) break;
      if (blockIndent < 0) blockIndent = ind;
      if (ind < blockIndent) this.fail('less indented line inside a block scalar');
      lines.push(line.slice(blockIndent));
      this.i++;
    }
    let trailing = 0;
    while (lines.length && lines[lines.length - 1] === '') { lines.pop(); trailing++; }
    let body = style === '|' ? lines.join('\n')
      : lines.reduce((acc, l, k) => (k === 0 ? l : acc + (l === '' || lines[k - 1] === '' ? '\n' : ' ') + l), '').replace(/\n /g, '\n');
    if (chomp === '+') body += '\n'.repeat(trailing + 1);
    else if (chomp === '' && lines.length) body += '\n';
    return body;
  }
}

function isSeqItem(text) { return text === '-' || text.startsWith('- '); }

const keyRe = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#[\]{},&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/;

function keyValue(text) {
  const m = text.match(keyRe);
  if (!m) return null;
  const k = m[1].trim();
  // A plain key stays the text it is: "n" or "on" is a name here, not a boolean.
  return { key: /^["']/.test(k) ? String(inline(k)) : k, rest: (m[2] || '').trim() };
}

function stripComment(line) {
  let q = '';
  for (let k = 0; k < line.length; k++) {
    const c = line[k];
    if (q) {
      if (c === '\\' && q === '"') k++;
      else if (c === q) q = '';
    } else if (c === '"' || c === "'") {
      if (k === 0 || /[\s:[{,-]/.test(line[k - 1])) q = c;
    } else if (c === '#' && (k === 0 || /\s/.test(line[k - 1]))) {
      return line.slice(0, k);
    }
  }
  return line;
}

// inline reads a one-line value: a quoted or plain scalar or a flow collection.
function inline(text) {
  const p = new Flow(text);
  const v = p.value(false);
  p.space();
  if (p.k < text.length) throw new Error(`unexpected "${text.slice(p.k)}" after a value`);
  return v;
}

class Flow {
  constructor(s) { this.s = s; this.k = 0; }
  space() { while (this.s[this.k] === ' ' || this.s[this.k] === '\t') this.k++; }

  value(inFlow) {
    this.space();
    const c = this.s[this.k];
    if (c === '[') return this.list();
    if (c === '{') return this.mapping();
    if (c === '"') {
      const m = this.s.slice(this.k).match(/^"(?:[^"\\]|\\.)*"/);
      if (!m) throw new Error('unterminated double-quoted string');
      this.k += m[0].length;
      return JSON.parse(m[0].replace(/\\'/g, "'").replace(/\\\//g, '/'));
    }
    if (c === "'") {
      const m = this.s.slice(this.k).match(/^'((?:[^']|'')*)'/);
      if (!m) throw new Error('unterminated single-quoted string');
      this.k += m[0].length;
      return m[1].replace(/''/g, "'");
    }
    const stop = inFlow ? /[,\]}]|:\s|:$/ : /$^/;
    let end = this.k;
    while (end < this.s.length && !stop.test(this.s.slice(end, end + 2).replace(/^(.)(.?)$/, (x, a, b) => (a === ':' ? a + b : a)))) end++;
    const plain = this.s.slice(this.k, end).trim();
    this.k = end;
    return resolve(plain);
  }

  list() {
    const arr = [];
    this.k++;
    for (;;) {
      this.space();
      if (this.s[this.k] === ']') { this.k++; return arr; }
      arr.push(this.value(true));
      this.space();
      if (this.s[this.k] === ',') this.k++;
      else if (this.s[this.k] !== ']') throw new Error('expected "," or "]" in a flow sequence');
    }
  }

  mapping() {
    const obj = {};
    this.k++;
    for (;;) {
      this.space();
      if (this.s[this.k] === '}') { this.k++; return obj; }
      const key = String(this.value(true));
      this.space();
      if (this.s[this.k] !== ':') throw new Error('expected ":" in a flow mapping');
      this.k++;
      obj[key] = this.value(true);
      this.space();
      if (this.s[this.k] === ',') this.k++;
      else if (this.s[this.k] !== '}') throw new Error('expected "," or "}" in a flow mapping');
    }
  }
}

function resolve(s) {
  if (s === '' || s === '~' || /^(null|Null|NULL)$/.test(s)) return null;
  if (/^(true|True|TRUE|yes|Yes|YES|on|On|ON|y|Y)$/.test(s)) return true;
  if (/^(false|False|FALSE|no|No|NO|off|Off|OFF|n|N)$/.test(s)) return false;
  if (/^[-+]?(0|[1-9][0-9_]*)$/.test(s)) return Number(s.replace(/_/g, ''));
  if (/^[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?$/.test(s) && /[0-9]/.test(s)) return Number(s.replace(/_/g, ''));
  return s;
}
