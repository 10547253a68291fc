/**
 * CloudWatch metrics of the Lambdas, in Embedded Metric Format (shared/aws/emf.ts, which the media task prints
 * too): one JSON line on stdout per invocation that has something to count.
 *
 * Written here rather than with @aws-lambda-powertools/metrics: the format is one object, and the line goes to
 * `process.stdout` directly because Lambda's patched `console.log` prefixes lines, which EMF extraction refuses.
 */
import { emfLine as emfDocument } from '../../shared/aws/emf.ts';
import type { RecordResult } from '../recorder.ts';

export { METRICS_DIMENSION, METRICS_NAMESPACE } from '../../shared/aws/emf.ts';

export const METRIC = {
  /** Calls the sweeper closed: their task never started, vanished, or hung past its limit. */
  stuckCalls: 'StuckCalls',
  /** Calls that became `failed`, whoever recorded it (recorder, reconciler, sweeper, API). */
  failedCalls: 'FailedCalls',
  /** Live calls the sweeper saw. */
  liveCalls: 'LiveCalls',
  /** Standby tasks idle after the sweeper's keeper round (functions/standby-pool.ts). */
  standbyIdle: 'StandbyIdle',
  /** Standby tasks started by that round: a pool that keeps replacing tasks is a pool whose tasks die. */
  standbyLaunched: 'StandbyLaunched',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Emits counts; `Count` is the only unit used. */
export type MetricSink = (values: Partial<Record<MetricName, number>>) => void;

export function emfLine(gateway: string, values: Partial<Record<MetricName, number>>, now: Date): string {
  const counts = Object.entries(values).map(([name, value]) => ({ name, unit: 'Count' as const, value }));
  return emfDocument(gateway, counts, now);
}

/** The Lambdas' sink: EMF lines on stdout. */
export function emfSink(
  gateway: string,
  write: (line: string) => void = (line) => void process.stdout.write(line + '\n'),
): MetricSink {
  return (values) => {
    if (Object.keys(values).length > 0) write(emfLine(gateway, values, new Date()));
  };
}

/** How many of the changes in `result` made a call `failed` (0 or 1). */
export function failuresIn(result: RecordResult): number {
  return result.effects.filter((effect) => effect.type === 'state-changed' && effect.to === 'failed').length;
}

/** Counts a recorded failure, if any: the FailedCalls alarm reads it. */
export function countFailures(metrics: MetricSink | undefined, result: RecordResult): void {
  const failed = failuresIn(result);
  if (failed > 0) metrics?.({ [METRIC.failedCalls]: failed });
}
