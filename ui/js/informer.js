// informer.js: the page's cache of tasks, kept the way client-go's
// reflector keeps one: list, then watch from the list's resourceVersion;
// on a dropped stream resume from the last resourceVersion seen; on 410
// Gone (or an ERROR event saying so) list again. Nothing polls.

import { ApiError, getJSON, lines, stream } from './api.js';

const MAX_BACKOFF_MS = 10000;

export class Informer {
  constructor() {
    this.items = new Map(); // name -> task
    this.rv = '';
    this.synced = false;
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.state = 'connecting';
  }

  /** subscribe calls fn(type, task) on every change; ('SYNC') after a relist. */
  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  onState(fn) { this.stateListeners.add(fn); fn(this.state); return () => this.stateListeners.delete(fn); }

  emit(type, task) { for (const fn of this.listeners) fn(type, task); }
  setState(s) { this.state = s; for (const fn of this.stateListeners) fn(s); }

  async relist() {
    const list = await getJSON('/v1/tasks');
    const next = new Map(list.items.map((t) => [t.metadata.name, t]));
    this.items = next;
    this.rv = list.metadata.resourceVersion;
    this.synced = true;
    this.emit('SYNC');
  }

  /** run keeps the cache current until signal aborts. */
  async run(signal) {
    let backoff = 500;
    while (!signal.aborted) {
      try {
        if (!this.rv) await this.relist();
        this.setState('live');
        const began = Date.now();
        await this.watch(signal);
        // A stream that ended cleanly after a while (a server timeout)
        // resumes at once; one that keeps ending at once is backed off,
        // so a confused proxy cannot make the page spin.
        if (Date.now() - began > 1000) backoff = 500;
        else throw new Error('watch ended at once');
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ApiError && e.status === 410) {
          this.rv = ''; // too old to resume: relist
          continue;
        }
        this.setState('down');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  async watch(signal) {
    const q = new URLSearchParams({ watch: 'true', resourceVersion: this.rv, allowWatchBookmarks: 'true' });
    await stream(`/v1/tasks?${q}`, signal, lines((line) => this.apply(JSON.parse(line))));
  }

  apply(ev) {
    const obj = ev.object || {};
    if (ev.type === 'ERROR') {
      // The store ends a watch it cannot continue with a Status; 410
      // means relist, anything else resume.
      throw new ApiError(obj.code || 500, obj);
    }
    const rv = obj.metadata && obj.metadata.resourceVersion;
    if (rv) this.rv = rv;
    if (ev.type === 'BOOKMARK') return;
    const name = obj.metadata.name;
    if (ev.type === 'DELETED') this.items.delete(name);
    else this.items.set(name, obj);
    this.emit(ev.type, obj);
  }
}
