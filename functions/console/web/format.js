/**
 * How the console tells a call in words and numbers. Pure: no DOM, so test/console/console-format.test.ts runs it
 * directly.
 */

/** @typedef {import('../../core/call-record.ts').CallView} CallView */
/** @typedef {import('../../../shared/call-types.ts').CallState} CallState */
/** @typedef {import('../../../shared/call-types.ts').FailureReason} FailureReason */

/** @type {Readonly<Record<string, true>>} */
const FINAL = { ended: true, failed: true };

/** @param {CallView} call */
export const isFinal = (call) => Boolean(FINAL[call.state]);

/** The states a call goes through, in order; it ends in one of the last two. */
export const STATE_ORDER = /** @type {const} */ (['dialing', 'ringing', 'answered', 'streaming']);

/**
 * One sentence per failure reason (shared/call-types.ts FAILURE_REASONS; the test holds the two in step).
 * @type {Record<FailureReason, string>}
 */
export const FAILURE_WORDS = {
  sip: 'The called party or its SIP server refused the call (busy, declined, or no such number).',
  auth: 'The SIP server did not accept the login and password.',
  timeout: 'Nobody answered in time, or the SIP server stopped answering.',
  rtmp: 'The RTMP server refused the stream or went away before it started.',
  ffmpeg: 'The encoder stopped and could not be restarted.',
  crashed: 'The media task stopped without saying why.',
  launch: 'No media task could be started for the call.',
  capacity: 'The gateway had no room for another call.',
  internal: 'The gateway hit a bug; its logs have the details.',
};

/** @type {Record<string, string>} */
const ENDED_BY = {
  local: 'Hung up from here',
  remote: 'The far end hung up',
  limit: 'Ended by a limit',
};

/**
 * What became of a final call, in words; undefined while it is live.
 * @param {CallView} call
 * @returns {{ headline: string; detail: string } | undefined}
 */
export function outcome(call) {
  if (call.failure) {
    const { reason, message, sipCode } = call.failure;
    const code = sipCode === undefined ? '' : `SIP ${sipCode}: `;
    return { headline: FAILURE_WORDS[reason] ?? `Failed (${reason}).`, detail: code + message };
  }
  if (call.ended) {
    const { by, reason, sipCode } = call.ended;
    const code = sipCode === undefined ? '' : ` (SIP ${sipCode})`;
    return { headline: `${ENDED_BY[by] ?? 'Ended'}.`, detail: reason + code };
  }
  return undefined;
}

/**
 * Seconds the call has lasted: since it was answered, up to its end; undefined before the answer.
 * @param {CallView} call
 * @param {number} now milliseconds since the epoch
 */
export function callSeconds(call, now) {
  if (call.ended) return call.ended.durationSeconds;
  const since = call.stateTimes.answered ?? call.stateTimes.streaming;
  if (!since || isFinal(call)) return undefined;
  return Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
}

/**
 * `m:ss`, or `h:mm:ss` from an hour on; `–` for no duration.
 * @param {number | undefined} seconds
 */
export function clock(seconds) {
  if (seconds === undefined) return '–';
  const whole = Math.floor(seconds);
  const s = String(whole % 60).padStart(2, '0');
  const m = Math.floor(whole / 60) % 60;
  const hours = Math.floor(whole / 3600);
  return hours > 0 ? `${hours}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * The state timeline of the call page: every state in order with the time it was entered (and seconds after the
 * call was placed), `skipped` for a state the call went past without reporting it (a peer that answers without
 * ringing), `pending` for one it has not reached, or never will (a failed call's answer).
 * @param {CallView} call
 * @returns {{ state: CallState; at?: string; offsetSeconds?: number; status: 'done' | 'skipped' | 'pending' }[]}
 */
export function timeline(call) {
  const start = Date.parse(call.stateTimes.dialing ?? call.createdAt);
  /** @type {CallState} */
  const last = call.state === 'failed' ? 'failed' : 'ended';
  /** @type {CallState[]} */
  const states = [...STATE_ORDER, last];
  const furthest = STATE_ORDER.map((state) => call.stateTimes[state] !== undefined).lastIndexOf(true);
  return states.map((state, index) => {
    const at = call.stateTimes[state];
    if (at !== undefined) {
      const offsetSeconds = Math.max(0, Math.round((Date.parse(at) - start) / 100) / 10);
      return { state, at, offsetSeconds, status: 'done' };
    }
    return { state, status: index < furthest ? 'skipped' : 'pending' };
  });
}

/**
 * The audio level for the meter: what to show, and the word for it.
 * @param {number | undefined} db
 */
export function levelText(db) {
  if (db === undefined) return 'not measured';
  if (db <= -60) return `${db.toFixed(1)} dBFS, silence`;
  return `${db.toFixed(1)} dBFS`;
}

/**
 * The RTMP server's host (and port) for the live list, `+N` for more destinations; the full URL goes in a title.
 * @param {CallView} call
 */
export function serverText(call) {
  const host = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]+)/i.exec(call.rtmpUrl)?.[1] ?? call.rtmpUrl;
  const more = (call.stats?.destinations?.length ?? 1) - 1;
  return more > 0 ? `${host} +${more}` : host;
}

/** @param {number} bytes */
export function bytesText(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** @param {number} kbps */
export const kbpsText = (kbps) => (kbps >= 1000 ? `${(kbps / 1000).toFixed(2)} Mbit/s` : `${kbps.toFixed(0)} kbit/s`);

/** @param {number} percent */
export const lossText = (percent) => `${percent.toFixed(percent > 0 && percent < 1 ? 2 : 1)} % loss`;

/** @param {number} usd */
export const usdText = (usd) => `$${usd.toFixed(usd < 1 ? 4 : 2)}`;

/**
 * Local date and time to the second, as people read it.
 * @param {string} iso
 */
export function timeText(iso) {
  const date = new Date(iso);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
