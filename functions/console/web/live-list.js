/**
 * The live calls: one row per call, updated in place on each poll (so that a button does not vanish under the
 * pointer between a poll and a click), with its duration ticking every second between polls.
 */
import { byId, fill, h } from './dom.js';
import { callSeconds, clock, isFinal, serverText } from './format.js';
import { badge, hangUpOnClick, levelMeter, series, trend } from './widgets.js';

/** @typedef {import('../../core/call-record.ts').CallView} CallView */
/** @typedef {(text: string, isError?: boolean) => void} Say */

const SPARK = { width: 96, height: 24 };

/** @type {Map<string, { row: HTMLTableRowElement; call: CallView }>} */
const rows = new Map();

/**
 * @param {string} callId
 * @param {Say} say
 * @param {() => void} refresh
 */
function newRow(callId, say, refresh) {
  const hangup = h('button', { className: 'hangup danger', text: 'Hang up', attrs: { type: 'button' } });
  hangUpOnClick(/** @type {HTMLButtonElement} */ (hangup), callId, say, refresh);
  const link = h('a', { text: callId, attrs: { href: `#/calls/${encodeURIComponent(callId)}` } });
  const cells = ['call', 'state', 'duration', 'bitrate', 'loss', 'level', 'server'].map((name) =>
    h('td', { className: `cell-${name}` }),
  );
  cells[0]?.append(link, h('div', { className: 'sub callee' }));
  return h('tr', { data: { callId } }, [...cells, h('td', {}, [hangup])]);
}

/**
 * Shows `calls` (the live ones), keeping the rows of calls still listed.
 * @param {CallView[]} calls
 * @param {Say} say
 * @param {() => void} refresh
 */
export function renderLiveList(calls, say, refresh) {
  const tbody = byId('calls').querySelector('tbody');
  if (!tbody) return;
  const listed = new Set();
  for (const call of calls) {
    listed.add(call.callId);
    let entry = rows.get(call.callId);
    if (!entry) {
      entry = { row: newRow(call.callId, say, refresh), call };
      rows.set(call.callId, entry);
      tbody.append(entry.row);
    }
    entry.call = call;
    renderRow(entry.row, call);
  }
  for (const [callId, entry] of rows) {
    if (listed.has(callId)) continue;
    entry.row.remove();
    rows.delete(callId);
  }
  byId('liveCount').textContent = calls.length ? `(${calls.length})` : '';
  byId('noCalls').hidden = calls.length > 0;
}

/**
 * @param {HTMLTableRowElement} row
 * @param {CallView} call
 */
function renderRow(row, call) {
  const cell = (/** @type {string} */ name) => /** @type {HTMLElement} */ (row.querySelector(`.cell-${name}`));
  const hangingUp = call.desiredState === 'ended' && !isFinal(call);
  /** @type {HTMLElement} */ (row.querySelector('.callee')).textContent = `to ${call.callee}`;
  fill(cell('state'), [badge(call.state, hangingUp ? 'hanging up' : undefined)]);
  const { bitrate, loss } = series(call);
  fill(cell('bitrate'), [trend('bitrate', bitrate, SPARK)]);
  fill(cell('loss'), [trend('loss', loss, SPARK)]);
  fill(cell('level'), [levelMeter(call.stats?.audioLevelDb)]);
  cell('server').textContent = serverText(call);
  cell('server').title = call.rtmpUrl;
  const hangup = /** @type {HTMLButtonElement} */ (row.querySelector('button.hangup'));
  hangup.disabled = isFinal(call) || call.desiredState === 'ended';
  tickRow(row, call, Date.now());
}

/**
 * @param {HTMLTableRowElement} row
 * @param {CallView} call
 * @param {number} now
 */
function tickRow(row, call, now) {
  const duration = /** @type {HTMLElement} */ (row.querySelector('.cell-duration'));
  duration.textContent = clock(callSeconds(call, now));
}

/** Moves every duration on to now; runs every second between polls. */
export function tickLiveList() {
  const now = Date.now();
  for (const { row, call } of rows.values()) tickRow(row, call, now);
}
