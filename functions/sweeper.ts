/**
 * One sweep over the live calls: ask the platform what became of their tasks, let `decideSweep`
 * (functions/core/call-sweep.ts) judge each call, record the verdict with the recorder's `recordEvent`, then
 * stop the task where the verdict says so. The same code runs in the scheduled Lambda on AWS
 * (functions/aws/call-sweeper.ts) and on a timer in the local server.
 *
 * The verdict is recorded before the task is stopped: a task killed first would be reported `crashed` by the
 * launcher's own exit watch, and a recorded final state makes the task's late report (if it wakes up) harmless.
 */
import { decideSweep, type ObservedTask, type SweepPolicy, type SweepReason } from './core/call-sweep.ts';
import type { CallStore, Logger, TaskInspector, TaskLauncher } from './core/ports.ts';
import { recordEvent, type RecordResult } from './recorder.ts';

export interface SweeperDeps {
  store: CallStore;
  inspector: TaskInspector;
  launcher: Pick<TaskLauncher, 'stop'>;
  policy: SweepPolicy;
  logger: Logger;
  now: () => Date;
  /** Told of every call the sweep closed (status callbacks); awaited, must not throw. */
  onClosed?: (result: RecordResult) => Promise<void>;
}

export interface SweepReport {
  live: number;
  /** Calls closed by this sweep, by reason. */
  closed: Record<SweepReason, number>;
  /** Calls whose closing or task stop failed (retried by the next sweep if still live). */
  errors: number;
}

export async function sweep(deps: SweeperDeps): Promise<SweepReport> {
  const { store, inspector, launcher, policy, logger } = deps;
  const report: SweepReport = { live: 0, closed: { launch: 0, crashed: 0, limit: 0, 'hung-up': 0 }, errors: 0 };
  const live = await store.list({ live: true });
  report.live = live.length;
  const refs = live.map((record) => record.taskRef).filter((ref): ref is string => ref !== undefined);
  const observed = refs.length ? await inspector.inspect(refs) : new Map<string, ObservedTask>();
  const stops: Promise<void>[] = [];
  for (const listed of live) {
    if (
      decideSweep(listed, listed.taskRef ? observed.get(listed.taskRef) : undefined, deps.now(), policy).action ===
      'none'
    )
      continue;
    try {
      // The listing may come from an eventually consistent index: judge the record as it is now. A task attached
      // since the listing was not looked up; the next sweep will.
      const record = await store.get(listed.callId);
      if (!record || record.taskRef !== listed.taskRef) continue;
      const decision = decideSweep(
        record,
        record.taskRef ? observed.get(record.taskRef) : undefined,
        deps.now(),
        policy,
      );
      if (decision.action === 'none') continue;
      const result = await recordEvent(store, decision.event);
      // Someone else closed it meanwhile (the task's own report, the reconciler): theirs to tell.
      if (result.applied) {
        report.closed[decision.reason]++;
        logger.warn('stuck call closed by the sweeper', {
          callId: record.callId,
          reason: decision.reason,
          taskRef: record.taskRef,
          state: record.state,
        });
        await deps.onClosed?.(result);
      }
      // Side by side: a hung task takes the stop grace to die, which must not hold up the other calls.
      if (decision.stopTask) {
        stops.push(
          launcher.stop(record.callId, record.taskRef).catch((error: unknown) => {
            report.errors++;
            logger.error('sweeper could not stop the task of a call past its limit', {
              callId: record.callId,
              taskRef: record.taskRef,
              error,
            });
          }),
        );
      }
    } catch (error) {
      report.errors++;
      logger.error('sweeper could not close a stuck call', { callId: listed.callId, error });
    }
  }
  await Promise.all(stops);
  return report;
}

/** Calls closed by one sweep: the `StuckCalls` metric. */
export function stuckCalls(report: SweepReport): number {
  return Object.values(report.closed).reduce((sum, count) => sum + count, 0);
}
