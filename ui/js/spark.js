// spark.js: SVG line charts, drawn from the usage ring; no chart library.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * chart returns an <svg> polyline of values (nulls are skipped) scaled to
 * [0, max] when max is given, else between the values' low and high.
 * label is its accessible name.
 */
export function chart(values, { width = 80, height = 18, max, label = '', cls = 'spark' } = {}) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', cls);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  if (cls === 'spark') { svg.setAttribute('width', width); svg.setAttribute('height', height); }
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const pts = values.map((v, i) => [i, v]).filter(([, v]) => v !== null && v !== undefined);
  if (pts.length < 2) return svg;
  // Against a limit the line shows how close to it the task runs; without
  // one it shows the variation, between the series' own low and high.
  const vals = pts.map(([, v]) => v);
  let lo = max ? 0 : Math.min(...vals);
  let hi = Math.max(max || 0, ...vals);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; } // a flat series sits mid-height
  const step = width / Math.max(values.length - 1, 1);
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', pts.map(([i, v]) =>
    `${(i * step).toFixed(1)},${(height - 1 - ((v - lo) / (hi - lo)) * (height - 2)).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}
