/**
 * One call: its state timeline with times, what became of it in words, the audio level and recent stats, each
 * RTMP destination, and the controls (DTMF keypad, hang-up). Built once per visit, filled on each poll.
 */
import { sendDtmf } from './api.js';
import { byId, fill, h } from './dom.js';
import { bytesText, callSeconds, clock, isFinal, outcome, timeline, timeText } from './format.js';
import { badge, hangUpOnClick, levelMeter, series, trend } from './widgets.js';

/** @typedef {import('../../core/call-record.ts').CallView} CallView */
/** @typedef {(text: string, isError?: boolean) => void} Say */

const DIGITS = '123456789*0#';
const SPARK = { width: 220, height: 40 };

/** @type {{ callId: string; call?: CallView } | undefined} */
let shown;

/**
 * Empties the page for `callId` and wires its controls to it.
 * @param {string} callId
 * @param {Say} say
 * @param {() => void} refresh
 */
export function openCallPage(callId, say, refresh) {
  shown = { callId };
  byId('callTitle').textContent = callId;
  for (const id of ['callSummary', 'level', 'trends', 'rtpStats']) byId(id).textContent = '';
  fill(byId('timeline'), []);
  fill(/** @type {HTMLElement} */ (byId('destinations').querySelector('tbody')), []);
  byId('outcome').hidden = true;
  const keys = [...DIGITS].map((digit) => {
    const key = h('button', { text: digit, attrs: { type: 'button' }, data: { digit } });
    key.addEventListener('click', async () => {
      try {
        await sendDtmf(callId, digit);
        say(`sent ${digit} to ${callId}`);
      } catch (error) {
        say(/** @type {Error} */ (error).message, true);
      }
    });
    return key;
  });
  fill(byId('keypad'), keys);
  hangUpOnClick(/** @type {HTMLButtonElement} */ (byId('hangupButton')), callId, say, refresh);
}

/**
 * @param {CallView} call
 */
export function renderCallPage(call) {
  if (!shown || shown.callId !== call.callId) return;
  shown.call = call;
  const final = isFinal(call);
  const hangingUp = call.desiredState === 'ended' && !final;
  fill(byId('callTitle'), [call.callId, ' ', badge(call.state, hangingUp ? 'hanging up' : undefined)]);
  fill(byId('timeline'), timeline(call).map(timelineItem));
  renderOutcome(call);
  const { bitrate, loss, level } = series(call);
  fill(byId('level'), [levelMeter(call.stats?.audioLevelDb)]);
  fill(byId('trends'), [trend('bitrate', bitrate, SPARK), trend('loss', loss, SPARK), trend('level', level, SPARK)]);
  renderDestinations(call);
  const stats = call.stats;
  byId('rtpStats').textContent = stats
    ? `From the phone: ${stats.rtpPackets} RTP packets, ${stats.rtpLost} lost, ${stats.jitterMs.toFixed(1)} ms jitter` +
      (stats.rtpForeignDropped ? `, ${stats.rtpForeignDropped} from other sources dropped` : '') +
      ` · as of ${timeText(stats.at)}`
    : final
      ? 'No stats: the call ended before its media task reported any.'
      : 'No stats yet: the media task reports them every 10 s.';
  for (const key of byId('keypad').querySelectorAll('button')) key.disabled = final;
  /** @type {HTMLButtonElement} */ (byId('hangupButton')).disabled = final || call.desiredState === 'ended';
  tickCallPage();
}

/** Moves the duration on to now; runs every second between polls. */
export function tickCallPage() {
  const call = shown?.call;
  if (!call) return;
  byId('callSummary').textContent =
    `to ${call.callee} via ${call.connection.sipDomain} → ${call.rtmpUrl} · ` +
    `duration ${clock(callSeconds(call, Date.now()))}`;
}

/** @param {ReturnType<typeof timeline>[number]} step */
function timelineItem(step) {
  const when =
    step.status === 'done' && step.at !== undefined
      ? [
          h('time', { text: timeText(step.at), attrs: { datetime: step.at } }),
          h('span', { className: 'offset', text: `+${step.offsetSeconds} s` }),
        ]
      : [h('span', { className: 'offset', text: step.status === 'skipped' ? 'not reported' : '' })];
  return h('li', { className: `step ${step.status} step-${step.state}`, data: { state: step.state } }, [
    h('span', { className: 'step-name', text: step.state }),
    ...when,
  ]);
}

/** @param {CallView} call */
function renderOutcome(call) {
  const box = byId('outcome');
  const said = outcome(call);
  box.hidden = !said;
  if (!said) return;
  box.className = `outcome outcome-${call.state}`;
  fill(box, [
    h('p', { className: 'headline', text: said.headline }),
    h('p', { className: 'detail', text: said.detail }),
  ]);
}

/** @param {CallView} call */
function renderDestinations(call) {
  const tbody = /** @type {HTMLElement} */ (byId('destinations').querySelector('tbody'));
  const destinations = call.stats?.destinations ?? [];
  const waiting = isFinal(call) ? 'no report from the media task' : 'no report from the media task yet';
  const rows = destinations.map((destination) =>
    h('tr', {}, [
      h('td', { text: destination.url }),
      h('td', {}, [badge(destination.state)]),
      h('td', { text: String(destination.reconnects) }),
      h('td', { text: bytesText(destination.bytesOut) }),
      h('td', { className: 'error-text', text: destination.lastError ?? '' }),
    ]),
  );
  fill(
    tbody,
    rows.length ? rows : [h('tr', {}, [h('td', { text: `${call.rtmpUrl}: ${waiting}`, attrs: { colspan: '5' } })])],
  );
}
