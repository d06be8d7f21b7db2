// usage.js: the usage figures. The sampler on the server reads every
// --stats-interval; the page asks for them at that pace only while a view
// that shows them is open and the tab is visible, so a closed dashboard
// costs nothing.

import { getJSON } from './api.js';

/**
 * poll calls fetchFn and then onData every interval (taken from the
 * answer's intervalSeconds), until the returned stop function is called.
 */
export function poll(path, onData, onError) {
  let timer = 0;
  let stopped = false;
  let interval = 10000;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === 'visible') {
      try {
        const data = await getJSON(path);
        const secs = data.intervalSeconds || (data.items && data.items[0] && data.items[0].intervalSeconds);
        if (secs) interval = Math.max(1000, secs * 1000);
        if (!stopped) onData(data);
      } catch (e) {
        if (onError && !stopped) onError(e);
      }
    }
    if (!stopped) timer = setTimeout(tick, interval);
  };
  const wake = () => { if (document.visibilityState === 'visible') { clearTimeout(timer); tick(); } };
  document.addEventListener('visibilitychange', wake);
  tick();
  return () => { stopped = true; clearTimeout(timer); document.removeEventListener('visibilitychange', wake); };
}
