/**
 * The small pieces every view of a call shows: its state as a coloured badge, the audio level meter, and the
 * sparklines of its recent stats.
 */
import { hangUp } from './api.js';
import { h } from './dom.js';
import { kbpsText, levelText, lossText } from './format.js';
import { sparkline } from './sparkline.js';

/** @typedef {import('../../core/call-record.ts').CallView} CallView */

/** The meter's range: below it is silence as far as anyone listening can tell. */
const LEVEL_FLOOR_DB = -60;

/**
 * @param {string} state a call's or a destination's
 * @param {string} [note] said after the state, e.g. that a hangup is on its way
 */
export function badge(state, note) {
  return h('span', { className: `badge badge-${state}`, text: note ? `${state} · ${note}` : state });
}

/**
 * The audio level of the call's latest stats, as a meter (green in the range of speech, yellow when too quiet or
 * near clipping) with its value in words.
 * @param {number | undefined} db
 */
export function levelMeter(db) {
  const meter = h('meter', {
    attrs: {
      min: String(LEVEL_FLOOR_DB),
      max: '0',
      low: '-45',
      high: '-3',
      optimum: '-18',
      value: String(db === undefined ? LEVEL_FLOOR_DB : Math.max(LEVEL_FLOOR_DB, db)),
    },
  });
  const why = db === undefined ? 'The level is measured on G.711 (PCMU, PCMA) audio, once stats arrive' : undefined;
  return h(
    'span',
    { className: `level-meter${db === undefined ? ' unmeasured' : ''}`, ...(why ? { title: why } : {}) },
    [meter, h('span', { className: 'level-text', text: levelText(db) })],
  );
}

/**
 * The series the sparklines draw, from the call's statsHistory (oldest first).
 * @param {CallView} call
 */
export function series(call) {
  const samples = call.statsHistory ?? [];
  return {
    bitrate: samples.map((sample) => sample.bitrateKbps),
    loss: samples.map((sample) => sample.lossPercent),
    level: samples.flatMap((sample) => (sample.audioLevelDb === undefined ? [] : [sample.audioLevelDb])),
  };
}

/**
 * One sparkline with its latest value beside it.
 * @param {'bitrate' | 'loss' | 'level'} kind
 * @param {readonly number[]} values
 * @param {{ width: number; height: number }} size
 */
export function trend(kind, values, size) {
  const latest = values.at(-1);
  const scales = {
    bitrate: { label: 'bitrate out, kbit/s', text: latest === undefined ? '–' : kbpsText(latest) },
    loss: { label: 'packet loss, %', text: latest === undefined ? '–' : lossText(latest) },
    level: { label: 'audio level, dBFS', text: latest === undefined ? '–' : `${latest.toFixed(1)} dBFS` },
  };
  const { label, text } = scales[kind];
  const scale = kind === 'level' ? { min: LEVEL_FLOOR_DB, max: 0 } : kind === 'loss' ? { floor: 1 } : { floor: 8 };
  return h('span', { className: 'trend' }, [
    sparkline(values, { kind, label, ...size, ...scale }),
    h('span', { className: 'trend-value', text }),
  ]);
}

/**
 * Makes `button` hang the call up: disabled while the request runs, enabled again if it fails.
 * @param {HTMLButtonElement} button
 * @param {string} callId
 * @param {(message: string, isError?: boolean) => void} say
 * @param {() => void} refresh
 */
export function hangUpOnClick(button, callId, say, refresh) {
  button.onclick = async () => {
    button.disabled = true;
    try {
      await hangUp(callId);
      say(`hang-up requested for ${callId}`);
      refresh();
    } catch (error) {
      button.disabled = false;
      say(/** @type {Error} */ (error).message, true);
    }
  };
}
