/**
 * The call state machine, as a pure function over the stored record. The recorder (locally, and in the
 * EventBridge Lambda on AWS) applies it to every event; the API applies it to control-plane requests.
 *
 * ```
 *   create ──► dialing ──► ringing ──► answered ──► streaming
 *                │  ╲         │  ╲         │            │
 *                │   ╲────────┼───╲────────┼──►─────────┤   (forward skips allowed: dialing → streaming)
 *                ▼            ▼            ▼            ▼
 *            ┌───────────────────────────────────────────────┐
 *            │  ended (by local|remote|limit)  │   failed     │   final, absorbing: nothing leaves them
 *            └───────────────────────────────────────────────┘
 *   task-crashed  (control plane: task exited, record not final) ─► failed / crashed
 *   launch-failed (control plane: no task started)               ─► failed / launch (or capacity)
 *   hangup-requested (DELETE)   ─► desired = ended, effect stop-task; the state moves when the task reports
 *   stats                       ─► stats and their history (stats-history.ts), never the state
 *   recording                   ─► the recording's outcome only, never the state (it follows the final event)
 * ```
 *
 * Ordering rules — an event's `seq` decides, never its arrival time (EventBridge and stdout pipes may
 * duplicate and reorder):
 * 1. A final record's state never changes, whatever state or control event comes: the first final event
 *    applied wins (e.g. `failed` arriving after `ended` changes nothing; see 3 for `stateTimes`).
 * 2. A final event (`ended`/`failed`) on a live record always applies, whatever its seq: it is the task's
 *    last word, and losing it would leave a call "streaming" forever.
 * 3. A non-final state event applies only if `seq > lastSeq` and it moves forward (dialing < ringing <
 *    answered < streaming); otherwise it is a duplicate or a late arrival and leaves the state alone. A late
 *    arrival of a state the call went past still gives `stateTimes` its time, if it has none: the call was
 *    answered, whichever of `answered` and `streaming` was recorded first.
 * 4. Stats apply if `seq > statsSeq`, in any state (a last stats event may trail `ended`). They have their own
 *    counter so that a stats event never makes a late state event look stale.
 * 5. A recording report applies if its seq is above the stored report's, in any state: the file is closed, and
 *    uploaded, only after the call's final event went out.
 * An ignored event returns the record unchanged (`changed: false`): the caller skips the write, which is what
 * makes recording idempotent.
 */
import type { CallState, StateEvent } from '../../shared/call-types.ts';
import { isFinal } from '../../shared/call-types.ts';
import type { CallRecord } from './ports.ts';
import { appendStatsSample } from './stats-history.ts';

/** Events raised by the control plane rather than by the media task; they carry no seq. */
export type ControlEvent =
  | { type: 'hangup-requested'; callId: string; at: string }
  | { type: 'task-crashed'; callId: string; at: string; message: string }
  | { type: 'launch-failed'; callId: string; at: string; message: string; reason?: 'launch' | 'capacity' };

export type CallEvent = StateEvent | ControlEvent;

export type Effect =
  /** Publish or log the change. */
  | { type: 'state-changed'; from: CallState; to: CallState }
  /** Ask the launcher to end the call and stop its task. */
  | { type: 'stop-task' };

export interface TransitionResult {
  record: CallRecord;
  effects: Effect[];
  changed: boolean;
  /** Why the event was ignored, for logs. */
  ignored?: string;
}

const RANK: Record<CallState, number> = { dialing: 0, ringing: 1, answered: 2, streaming: 3, ended: 4, failed: 4 };

export function transition(record: CallRecord, event: CallEvent): TransitionResult {
  const ignore = (reason: string): TransitionResult => ({ record, effects: [], changed: false, ignored: reason });
  if (event.callId !== record.callId) return ignore(`event for call ${event.callId}`);

  switch (event.type) {
    case 'stats': {
      if (event.seq <= record.statsSeq) return ignore('stale or duplicate stats');
      const { rtpPackets, rtpLost, jitterMs, rtpForeignDropped, bytesOut, destinations, audioLevelDb } = event;
      const stats = {
        rtpPackets,
        rtpLost,
        jitterMs,
        ...(rtpForeignDropped !== undefined ? { rtpForeignDropped } : {}),
        bytesOut,
        ...(destinations ? { destinations } : {}),
        ...(audioLevelDb !== undefined ? { audioLevelDb } : {}),
        at: event.at,
      };
      const statsHistory = appendStatsSample(record, stats);
      return changed({ ...record, statsSeq: event.seq, stats, ...(statsHistory ? { statsHistory } : {}) }, event.at);
    }
    case 'recording': {
      if (event.seq <= (record.recording?.seq ?? 0)) return ignore('stale or duplicate recording report');
      const { state, bytes, key, error } = event;
      const recording = {
        state,
        bytes,
        ...(key === undefined ? {} : { key }),
        ...(error === undefined ? {} : { error }),
        at: event.at,
        seq: event.seq,
      };
      return changed({ ...record, recording }, event.at);
    }
    case 'hangup-requested': {
      if (isFinal(record.state)) return ignore(`call already ${record.state}`);
      if (record.desired === 'ended') return ignore('hangup already requested');
      return changed({ ...record, desired: 'ended' }, event.at, [{ type: 'stop-task' }]);
    }
    case 'task-crashed':
    case 'launch-failed': {
      if (isFinal(record.state)) return ignore(`call already ${record.state}`);
      const reason = event.type === 'task-crashed' ? 'crashed' : (event.reason ?? 'launch');
      return enter({ ...record, failure: { reason, message: event.message } }, 'failed', event.at);
    }
    case 'ended':
    case 'failed': {
      if (isFinal(record.state)) return ignore(`call already ${record.state}`);
      const lastSeq = Math.max(record.lastSeq, event.seq);
      if (event.type === 'ended') {
        const { by, reason, sipCode, durationSeconds } = event;
        return enter(
          { ...record, lastSeq, ended: { by, reason, durationSeconds, ...(sipCode === undefined ? {} : { sipCode }) } },
          'ended',
          event.at,
        );
      }
      const { reason, message, sipCode } = event;
      return enter(
        { ...record, lastSeq, failure: { reason, message, ...(sipCode === undefined ? {} : { sipCode }) } },
        'failed',
        event.at,
      );
    }
    default: {
      const late = isFinal(record.state)
        ? `call already ${record.state}`
        : event.seq <= record.lastSeq
          ? `seq ${event.seq} ≤ lastSeq ${record.lastSeq}`
          : RANK[event.type] <= RANK[record.state]
            ? `${event.type} would not move ${record.state} forward`
            : undefined;
      if (!late) return enter({ ...record, lastSeq: event.seq }, event.type, event.at);
      if (RANK[event.type] < RANK[record.state] && record.stateTimes[event.type] === undefined) {
        return changed({ ...record, stateTimes: { ...record.stateTimes, [event.type]: event.at } }, event.at);
      }
      return ignore(late);
    }
  }
}

function enter(record: CallRecord, to: CallState, at: string): TransitionResult {
  const from = record.state;
  return changed({ ...record, state: to, stateTimes: { ...record.stateTimes, [to]: at } }, at, [
    { type: 'state-changed', from, to },
  ]);
}

function changed(record: CallRecord, at: string, effects: Effect[] = []): TransitionResult {
  // updatedAt never goes backwards either, even when a reordered event carries an older time.
  const updatedAt = at > record.updatedAt ? at : record.updatedAt;
  return { record: { ...record, updatedAt }, effects, changed: true };
}
