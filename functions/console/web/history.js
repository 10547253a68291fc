/**
 * Finished calls and their usage, filtered by state and creation time: GET /v1/calls?live=false and
 * GET /v1/usage over the same range, newest call first.
 */
import { getUsage, listCalls } from './api.js';
import { byId, fill, h } from './dom.js';
import { bytesText, clock, outcome, timeText, usdText } from './format.js';
import { badge } from './widgets.js';

/** @typedef {import('../../core/call-record.ts').CallView} CallView */
/** @typedef {import('./api.js').Usage} Usage */
/** @typedef {(text: string, isError?: boolean) => void} Say */

const DAY_MS = 24 * 3600 * 1000;

/**
 * `YYYY-MM-DDTHH:MM:SS` in local time, as a datetime-local input holds it.
 * @param {Date} date
 */
function localInputValue(date) {
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** @param {string} value a datetime-local input's, read in local time */
const toIso = (value) => (value ? new Date(value).toISOString() : undefined);

/** The filter form, defaulting to the last day. */
export function setUpHistory(/** @type {Say} */ say) {
  const form = /** @type {HTMLFormElement} */ (byId('historyForm'));
  const from = /** @type {HTMLInputElement} */ (form.elements.namedItem('from'));
  from.value = localInputValue(new Date(Date.now() - DAY_MS));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void loadHistory(say);
  });
}

/** Reads the form, asks for the calls and the usage, shows both. */
export async function loadHistory(/** @type {Say} */ say) {
  const form = /** @type {HTMLFormElement} */ (byId('historyForm'));
  const value = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).value;
  const from = toIso(value('from')) ?? new Date(0).toISOString();
  const to = toIso(value('to'));
  try {
    const [calls, usage] = await Promise.all([
      listCalls({ live: 'false', state: value('state') || undefined, from, to }),
      getUsage({ from, ...(to ? { to } : {}) }),
    ]);
    renderFinished(calls);
    renderUsage(byId('usage'), usage);
  } catch (error) {
    say(/** @type {Error} */ (error).message, true);
  }
}

/** @param {CallView[]} calls */
function renderFinished(calls) {
  const newestFirst = [...calls].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  const tbody = /** @type {HTMLElement} */ (byId('finishedCalls').querySelector('tbody'));
  fill(tbody, newestFirst.map(finishedRow));
  byId('historyCount').textContent = `(${calls.length})`;
}

/** @param {CallView} call */
function finishedRow(call) {
  const said = outcome(call);
  const sent = (call.usage?.bytesOut ?? []).reduce((sum, destination) => sum + destination.bytes, 0);
  return h('tr', { data: { callId: call.callId } }, [
    h('td', {}, [
      h('a', { text: call.callId, attrs: { href: `#/calls/${encodeURIComponent(call.callId)}` } }),
      h('div', { className: 'sub', text: `to ${call.callee}` }),
    ]),
    h('td', {}, [badge(call.state)]),
    h('td', { text: timeText(call.createdAt) }),
    h('td', { text: clock(call.usage?.mediaSeconds) }),
    h('td', { className: 'outcome-cell' }, [
      h('div', { text: said?.headline ?? '' }),
      h('div', { className: 'sub', text: said?.detail ?? '' }),
    ]),
    h('td', { text: bytesText(sent) }),
    h('td', { text: call.usage ? usdText(call.usage.estimatedCostUsd) : '–' }),
  ]);
}

/**
 * The usage totals of the range. The one place that knows the shape of the /v1/usage answer, so that a new part
 * of it (a breakdown per API key) is added here.
 * @param {HTMLElement} container
 * @param {Usage} usage
 */
export function renderUsage(container, usage) {
  const figure = (/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ name) =>
    h('div', { className: 'figure', data: { figure: name } }, [
      h('div', { className: 'figure-value', text: value }),
      h('div', { className: 'figure-label', text: label }),
    ]);
  fill(container, [
    h('h2', { text: `Usage from ${timeText(usage.from)} to ${timeText(usage.to)}` }),
    h('div', { className: 'figures' }, [
      figure('finished calls', String(usage.calls), 'calls'),
      figure('media time', clock(usage.mediaSeconds), 'mediaSeconds'),
      figure('task time', clock(usage.taskSeconds), 'taskSeconds'),
      figure('billable task time', clock(usage.billableTaskSeconds), 'billableTaskSeconds'),
      figure('sent to RTMP', bytesText(usage.bytesOut), 'bytesOut'),
      figure('estimated cost', usdText(usage.estimatedCostUsd), 'estimatedCostUsd'),
    ]),
    ...(usage.byKey?.length ? [keyTable(usage.byKey)] : []),
  ]);
}

/**
 * The same totals per API key that started the calls (a webhook's name, or none for calls no key started).
 * @param {import('../../core/call-usage.ts').KeyUsage[]} byKey
 */
function keyTable(byKey) {
  const headings = ['API key', 'calls', 'media time', 'billable task time', 'sent to RTMP', 'estimated cost'];
  return h('table', { className: 'by-key' }, [
    h('thead', {}, [
      h(
        'tr',
        {},
        headings.map((text) => h('th', { text })),
      ),
    ]),
    h(
      'tbody',
      {},
      byKey.map((entry) =>
        h('tr', { data: { key: entry.keyName ?? '' } }, [
          h('td', { text: entry.keyName ?? '(no key)' }),
          h('td', { text: String(entry.calls) }),
          h('td', { text: clock(entry.mediaSeconds) }),
          h('td', { text: clock(entry.billableTaskSeconds) }),
          h('td', { text: bytesText(entry.bytesOut) }),
          h('td', { text: usdText(entry.estimatedCostUsd) }),
        ]),
      ),
    ),
  ]);
}
