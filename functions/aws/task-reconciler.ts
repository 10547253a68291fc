/**
 * The reconciler Lambda's logic. ECS reports every task that stops ("ECS Task State Change", lastStatus
 * STOPPED); a task that stopped while its call is not final died without saying how the call ended (killed,
 * out of memory, image pull failure, a crash before the first event). Such a call is marked `failed` with the
 * stop reason, or `ended` when a hang-up had been requested (a StopTask that hit the task before it reported).
 *
 * A task that exits normally has handed its final event to EventBridge before exiting, but that event and
 * this one travel through different rules in no set order. When the container exited 0 we therefore give the
 * final event a few seconds to land before judging.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import { isFinal } from '../../shared/call-types.ts';
import { endedEvent } from '../core/call-sweep.ts';
import type { Pricing } from '../core/call-usage.ts';
import type { CallStore, Logger } from '../core/ports.ts';
import { recordEvent } from '../recorder.ts';
import { describeStop } from '../adapters/ecs-task-inspector.ts';
import { countFailures, type MetricSink } from './metrics.ts';
import { deliverStatusCallbacks } from './status-callbacks.ts';

/** The fields of the ECS event detail that we read. */
export interface EcsTaskStateChange {
  taskArn: string;
  clusterArn?: string;
  lastStatus: string;
  startedBy?: string;
  stoppedReason?: string;
  stopCode?: string;
  stoppedAt?: string;
  containers?: { name?: string; exitCode?: number; reason?: string }[];
}

export interface ReconcilerDeps {
  store: CallStore;
  logger: Logger;
  /** How long to wait for the final event of a task that exited 0. */
  finalEventGraceMs: number;
  /** Signs the callbacks of the `failed`/`ended` this records, as the recorder does for the task's own events. */
  statusSigningKey: string;
  /** Prices the usage in status callbacks (functions/pricing-config.ts). */
  pricing: Pricing;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** Counts the failures recorded (FailedCalls). */
  metrics?: MetricSink;
}

export type ReconcileOutcome =
  'not-stopped' | 'not-ours' | 'unknown-call' | 'already-final' | 'other-task' | 'marked-failed' | 'marked-ended';

export function createReconcilerHandler(deps: ReconcilerDeps) {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = deps.now ?? (() => new Date());
  const notifyDeps = {
    store: deps.store,
    logger: deps.logger,
    signingKey: deps.statusSigningKey,
    pricing: deps.pricing,
  };
  return async (event: EventBridgeEvent<'ECS Task State Change', EcsTaskStateChange>): Promise<ReconcileOutcome> => {
    const task = event.detail;
    if (task.lastStatus !== 'STOPPED') return 'not-stopped';
    // RunTask sets startedBy to the callId (functions/adapters/ecs-task-launcher.ts).
    const callId = task.startedBy;
    if (!callId) return 'not-ours';
    const log = (outcome: ReconcileOutcome, fields: Record<string, unknown> = {}) => {
      deps.logger.info('stopped task reconciled', { callId, taskArn: task.taskArn, outcome, ...fields });
      return outcome;
    };

    let record = await deps.store.get(callId);
    if (!record) return log('unknown-call');
    if (record.taskRef && record.taskRef !== task.taskArn) return log('other-task', { recordTaskRef: record.taskRef });
    if (isFinal(record.state)) return log('already-final');
    const exitCodes = (task.containers ?? []).map((c) => c.exitCode);
    if (deps.finalEventGraceMs > 0 && exitCodes.length > 0 && exitCodes.every((code) => code === 0)) {
      await sleep(deps.finalEventGraceMs);
      record = await deps.store.get(callId);
      if (!record) return log('unknown-call');
      if (isFinal(record.state)) return log('already-final', { afterGrace: true });
    }

    const at = task.stoppedAt ?? now().toISOString();
    const message = stopMessage(task);
    if (record.desired === 'ended') {
      // The hang-up the client asked for did happen, only the task could not say so (stopped before its first event,
      // or while hanging up).
      await deliverStatusCallbacks(
        await recordEvent(deps.store, endedEvent(record, 'local', `hang-up; ${message}`, at)),
        notifyDeps,
      );
      return log('marked-ended', { stopReason: message });
    }
    const crashed = await recordEvent(deps.store, { type: 'task-crashed', callId, at, message });
    countFailures(deps.metrics, crashed);
    await deliverStatusCallbacks(crashed, notifyDeps);
    return log('marked-failed', { stopReason: message });
  };
}

/** What the call's failure message says of a task that stopped on its own. */
export function stopMessage(task: EcsTaskStateChange): string {
  return `media task stopped without a final state: ${describeStop(task)}`;
}
