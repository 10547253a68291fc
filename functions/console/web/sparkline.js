/**
 * Sparklines: a small inline SVG line of a call's recent samples (its statsHistory). The geometry is a pure
 * function, tested apart; the element is drawn with DOM calls and CSS classes, no inline style.
 */
import { svg } from './dom.js';

/**
 * @typedef {object} Scale
 * @property {number} width
 * @property {number} height
 * @property {number} [min] the value at the bottom edge; default 0, so that a rate's line starts from nothing
 * @property {number} [max] the value at the top edge; default the largest value (at least `min` + `floor`)
 * @property {number} [floor] the smallest span the line is drawn on, so that noise on a flat line stays flat
 */

/**
 * The polyline's `points` for `values`, oldest left: one point per value, evenly spaced, clamped into the box.
 * One value draws a level line; none draws nothing.
 * @param {readonly number[]} values
 * @param {Scale} scale
 */
export function sparklinePoints(values, { width, height, min = 0, max, floor = 1 }) {
  if (values.length === 0) return '';
  const top = Math.max(max ?? Math.max(...values), min + floor);
  const pad = 1;
  const y = (/** @type {number} */ value) => {
    const clamped = Math.min(top, Math.max(min, value));
    return round(height - pad - ((clamped - min) / (top - min)) * (height - 2 * pad));
  };
  const series = values.length === 1 ? [values[0], values[0]] : values;
  const step = width / (series.length - 1);
  return series.map((value, index) => `${round(index * step)},${y(/** @type {number} */ (value))}`).join(' ');
}

/** @param {number} value */
const round = (value) => Math.round(value * 10) / 10;

/**
 * An inline SVG sparkline of `values`; `kind` picks its colour (CSS `.spark-<kind>`).
 * @param {readonly number[]} values
 * @param {Scale & { kind: string; label: string }} options
 */
export function sparkline(values, { kind, label, ...scale }) {
  const { width, height } = scale;
  return svg(
    'svg',
    {
      className: `spark spark-${kind}`,
      attrs: { viewBox: `0 0 ${width} ${height}`, width: String(width), height: String(height), role: 'img' },
      data: { points: String(values.length) },
    },
    [
      svg('title', { text: label }),
      svg('line', {
        className: 'spark-base',
        attrs: { x1: '0', y1: String(height - 0.5), x2: String(width), y2: String(height - 0.5) },
      }),
      svg('polyline', { attrs: { points: sparklinePoints(values, scale) } }),
    ],
  );
}
