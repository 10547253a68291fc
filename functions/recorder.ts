/**
 * Applies one event to the stored call: load, `transition`, conditional write, and on a lost race reload and
 * apply again. The same code runs behind the local task launcher (events from a task's stdout) and in the
 * EventBridge Lambda on AWS, where delivery is at-least-once and unordered — hence the seq rules in call-state.ts.
 * Idempotent: an event already applied is ignored by `transition`, so nothing is written the second time.
 */
import { ConcurrentUpdateError } from '../shared/call-errors.ts';
import { transition, type CallEvent, type Effect, type TransitionResult } from './core/call-state.ts';
import type { CallRecord, CallStore } from './core/ports.ts';

export interface RecordResult {
  /** The record after the event (undefined if the call is unknown, e.g. expired by TTL). */
  record?: CallRecord;
  applied: boolean;
  effects: Effect[];
  ignored?: string;
}

export interface RecordOptions {
  /** Attempts before giving up on a hot record; each lost race costs one read and one write. */
  maxAttempts?: number;
  /**
   * The task that sent the event, where the channel does not tell (EventBridge): the event is ignored unless it
   * is the call's recorded task. A local task's events come on its own stdout and need no such check.
   */
  fromTask?: string;
}

export async function recordEvent(
  store: CallStore,
  event: CallEvent,
  options: RecordOptions = {},
): Promise<RecordResult> {
  const { fromTask } = options;
  return updateWithRetry(
    store,
    event.callId,
    (current) =>
      fromTask !== undefined && current.taskRef !== fromTask
        ? {
            record: current,
            effects: [],
            changed: false,
            ignored: `sent by ${fromTask || 'no task'}, not the call's task`,
          }
        : transition(current, event),
    options,
  );
}

/**
 * Sets the launcher's task handle on the record, racing safely with the task's first events. `known`, the record
 * as just stored, saves the first read; a write that lost a race reads again.
 */
export async function attachTaskRef(
  store: CallStore,
  callId: string,
  taskRef: string,
  known?: CallRecord,
): Promise<RecordResult> {
  return updateWithRetry(
    store,
    callId,
    (current) =>
      current.taskRef === taskRef
        ? { record: current, effects: [], changed: false, ignored: 'taskRef already set' }
        : { record: { ...current, taskRef }, effects: [], changed: true },
    {},
    known,
  );
}

/** Read, change, conditional write; on a lost race read again. `change` must be pure: it may run several times. */
async function updateWithRetry(
  store: CallStore,
  callId: string,
  change: (current: CallRecord) => TransitionResult,
  options: RecordOptions,
  known?: CallRecord,
): Promise<RecordResult> {
  const maxAttempts = options.maxAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    const current = attempt === 1 && known ? known : await store.get(callId);
    if (!current) return { applied: false, effects: [], ignored: 'unknown call' };
    const result = change(current);
    if (!result.changed)
      return { record: current, applied: false, effects: [], ...(result.ignored ? { ignored: result.ignored } : {}) };
    try {
      const record = await store.update(result.record, current.version);
      return { record, applied: true, effects: result.effects };
    } catch (error) {
      if (!(error instanceof ConcurrentUpdateError) || attempt >= maxAttempts) throw error;
      // Jittered backoff so that two writers that collided do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}
