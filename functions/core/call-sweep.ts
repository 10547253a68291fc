/**
 * The sweeper's decision, as a pure function: given one live call record, what became of its task, and the time,
 * say whether the call is stuck and how to close it. The sweeper (functions/sweeper.ts) runs it over every live
 * call on a timer; the adapters only observe tasks and stop them.
 *
 * A call is stuck when nothing else will ever close it:
 * ```
 *   no taskRef ──── older than launchGrace ─────────────► failed / launch     (API died before or during RunTask,
 *                                                                             or the launch failure was not recorded)
 *   task stopped ── for longer than stoppedGrace ───────► failed / crashed    (its STOPPED event was lost: DLQ)
 *   task missing ── record older than launchGrace ──────► failed / crashed    (the platform forgot it)
 *   task running ── past createdAt + maxDuration + limitGrace ─► stop task, ended / limit   (hung task)
 *   either of the first three with a hang-up requested ─► ended / local       (the hang-up happened; nobody said so)
 * ```
 * Rules:
 * 1. Final records are never touched (the store lists live ones only; this checks again).
 * 2. Each grace leaves the normal path time to act first: the launch to attach its taskRef (the API's own
 *    timeout bounds it), the STOPPED event and the task's final event to land (the reconciler's own grace), the
 *    task to enforce `maxDurationSeconds` itself (its timer starts when the task starts, after `createdAt`).
 * 3. A task whose status is `unknown` (the lookup failed) is never judged gone, but is still stopped past its
 *    limit: stopping a task that is already gone is harmless.
 */
import { isFinal } from '../../shared/call-types.ts';
import type { CallEvent } from './call-state.ts';
import type { StateEvent } from '../../shared/call-types.ts';
import type { CallRecord } from './ports.ts';

/** What the platform says of a call's task (ECS DescribeTasks, or the local process table). */
export type ObservedTask =
  | { status: 'running' }
  | { status: 'stopped'; stoppedAt?: string; reason: string }
  /** The platform does not know the task (never started, or stopped long ago and forgotten). */
  | { status: 'missing' }
  /** The lookup itself failed. */
  | { status: 'unknown' };

export interface SweepPolicy {
  /** How long a call may wait for its task to be attached before the launch counts as lost. */
  launchGraceMs: number;
  /** How long after a task stopped the reconciler and recorder have to close its call. */
  stoppedGraceMs: number;
  /** How long past `maxDurationSeconds` a task has to end the call itself. */
  limitGraceMs: number;
}

export type SweepReason = 'launch' | 'crashed' | 'limit' | 'hung-up';

export type SweepDecision =
  | { action: 'none' }
  /** Record `event`; with `stopTask`, stop the task after recording (its own late report is then ignored). */
  | { action: 'close'; reason: SweepReason; event: CallEvent; stopTask: boolean };

const NONE: SweepDecision = { action: 'none' };

export function decideSweep(
  record: CallRecord,
  task: ObservedTask | undefined,
  now: Date,
  policy: SweepPolicy,
): SweepDecision {
  if (isFinal(record.state)) return NONE;
  const at = now.toISOString();
  const age = now.getTime() - Date.parse(record.createdAt);
  const gone = (reason: 'launch' | 'crashed', message: string): SweepDecision =>
    record.desired === 'ended'
      ? {
          action: 'close',
          reason: 'hung-up',
          event: endedEvent(record, 'local', `hang-up; ${message}`, at),
          stopTask: false,
        }
      : reason === 'launch'
        ? {
            action: 'close',
            reason,
            event: { type: 'launch-failed', callId: record.callId, at, message },
            stopTask: false,
          }
        : {
            action: 'close',
            reason,
            event: { type: 'task-crashed', callId: record.callId, at, message },
            stopTask: false,
          };

  if (!record.taskRef) {
    return age > policy.launchGraceMs
      ? gone('launch', `no media task was started within ${seconds(policy.launchGraceMs)}`)
      : NONE;
  }
  if (task?.status === 'stopped') {
    const stoppedAt = task.stoppedAt ? Date.parse(task.stoppedAt) : Number.NaN;
    // Without a stop time, the first sweep that sees it stopped is as early as any.
    if (now.getTime() - stoppedAt <= policy.stoppedGraceMs) return NONE;
    return gone('crashed', `media task stopped without a final state: ${task.reason}`);
  }
  if (task?.status === 'missing') {
    return age > policy.launchGraceMs ? gone('crashed', 'media task is gone: the platform no longer knows it') : NONE;
  }
  const deadline = Date.parse(record.createdAt) + record.spec.maxDurationSeconds * 1000 + policy.limitGraceMs;
  if (now.getTime() > deadline) {
    const message = `max-duration: the task did not end the call within ${seconds(policy.limitGraceMs)} of ${record.spec.maxDurationSeconds} s`;
    return { action: 'close', reason: 'limit', event: endedEvent(record, 'limit', message, at), stopTask: true };
  }
  return NONE;
}

/**
 * An `ended` the task could not report. A final event applies whatever its seq (call-state.ts rule 2);
 * lastSeq + 1 keeps it after everything the task did report. The duration counts from the answer, if any.
 */
export function endedEvent(record: CallRecord, by: 'local' | 'limit', reason: string, at: string): StateEvent {
  const answeredAt = record.stateTimes.answered ?? record.stateTimes.streaming;
  const durationSeconds = answeredAt ? Math.max(0, Math.round((Date.parse(at) - Date.parse(answeredAt)) / 1000)) : 0;
  return { type: 'ended', by, reason, durationSeconds, callId: record.callId, seq: record.lastSeq + 1, at };
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
