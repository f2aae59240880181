// Small SVG charts drawn here (no library): a sparkline of a series in a fixed-size box, so updates never move
// the layout. The svg element is created once and its children are replaced on each update.

import { s } from './dom.js';

/**
 * Draws `values` (numbers, oldest first) into `svg` (fixed viewBox width × height).
 * `secondary`: an optional second series (e.g. error rate, 0–1) drawn dashed on its own 0–1 scale.
 */
export function sparkline(svg, values, { width = 300, height = 60, secondary = null, label = '', slots = 24 } = {}) {
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.replaceChildren();
  const pad = 4;
  const top = 12;
  const series = values.slice(-slots);
  const top0 = Math.max(0, ...series.map(Number).filter(Number.isFinite));
  const max = top0 > 0 ? top0 * 1.2 : 1;
  const x = (i) => width - pad - (series.length - 1 - i) * ((width - 2 * pad) / (slots - 1));
  const y = (v, m = max) => height - pad - (Math.max(0, v) / m) * (height - top - pad);

  svg.append(s('line', { x1: pad, x2: width - pad, y1: height - pad, y2: height - pad, stroke: '#cfd6e0', 'stroke-width': 1 }));
  if (label) {
    const t = s('text', { x: pad + 2, y: 10, class: 'chart-label' });
    t.textContent = label;
    svg.append(t);
  }
  if (top0 > 0) {
    const t = s('text', { x: width - pad - 2, y: 10, class: 'chart-label', 'text-anchor': 'end' });
    t.textContent = `max ${top0 >= 10 ? top0.toFixed(0) : top0.toFixed(2)}`;
    svg.append(t);
  }
  if (series.length >= 2) {
    const pts = series.map((v, i) => `${x(i).toFixed(1)},${y(Number(v) || 0).toFixed(1)}`);
    svg.append(s('path', { class: 'chart-area', d: `M${x(0).toFixed(1)},${height - pad} L${pts.join(' L')} L${x(series.length - 1).toFixed(1)},${height - pad} Z` }));
    svg.append(s('polyline', { class: 'chart-line', points: pts.join(' ') }));
  } else if (series.length === 1) {
    svg.append(s('circle', { cx: x(0), cy: y(Number(series[0]) || 0), r: 2, fill: 'currentColor', class: 'chart-line' }));
  }
  if (secondary && secondary.length >= 2 && secondary.some((v) => v > 0)) {
    const sec = secondary.slice(-slots);
    const off = series.length - sec.length;
    svg.append(s('polyline', { class: 'chart-err',
      points: sec.map((v, i) => `${x(i + off).toFixed(1)},${y(Number(v) || 0, 1).toFixed(1)}`).join(' ') }));
  }
  const title = s('title');
  const last = series.length ? series[series.length - 1] : null;
  title.textContent = `${label}${last === null ? ': no figures yet' : `: ${Number(last).toFixed(2)} now, max ${top0.toFixed(2)}`}`;
  svg.prepend(title);
  return svg;
}
