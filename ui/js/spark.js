// spark.js: SVG line charts, drawn from the usage ring; no chart library.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * chart returns an <svg> polyline of values (nulls are skipped) scaled to
 * [0, max] (default: the largest value). label is its accessible name.
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
  const top = Math.max(max || 0, ...pts.map(([, v]) => v)) || 1;
  const step = width / Math.max(values.length - 1, 1);
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', pts.map(([i, v]) =>
    `${(i * step).toFixed(1)},${(height - 1 - (v / top) * (height - 2)).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}
