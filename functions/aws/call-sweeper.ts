/**
 * The sweeper Lambda's logic, run every minute by an EventBridge schedule (infra/gateway-stack.ts): one `sweep`
 * (functions/sweeper.ts) over the live calls, their tasks looked up with ECS DescribeTasks. The calls it closes get
 * their status callbacks as the recorder's and reconciler's do, delivered side by side so that one slow receiver
 * does not hold up the others past the Lambda's timeout. It prints the metrics the stuck-call and failed-call
 * alarms read (functions/aws/metrics.ts).
 */
import type { SweepPolicy } from '../core/call-sweep.ts';
import type { Pricing } from '../core/call-usage.ts';
import type { CallStore, Logger, TaskInspector, TaskLauncher } from '../core/ports.ts';
import { stuckCalls, sweep, type SweepReport } from '../sweeper.ts';
import { countFailures, METRIC, type MetricSink } from './metrics.ts';
import { deliverStatusCallbacks } from './status-callbacks.ts';
import type { StandbyPool } from '../standby-pool.ts';

export interface SweeperHandlerDeps {
  store: CallStore;
  inspector: TaskInspector;
  launcher: Pick<TaskLauncher, 'stop'>;
  policy: SweepPolicy;
  logger: Logger;
  statusSigningKey: string;
  /** Prices the usage in status callbacks (functions/pricing-config.ts). */
  pricing: Pricing;
  metrics?: MetricSink;
  now?: () => Date;
  /** The standby pool, tended on each run (functions/standby-pool.ts). */
  standby?: Pick<StandbyPool, 'tend'>;
}

export function createSweeperHandler(deps: SweeperHandlerDeps) {
  const notifyDeps = {
    store: deps.store,
    logger: deps.logger,
    signingKey: deps.statusSigningKey,
    pricing: deps.pricing,
  };
  return async (): Promise<SweepReport> => {
    const deliveries: Promise<void>[] = [];
    const report = await sweep({
      store: deps.store,
      inspector: deps.inspector,
      launcher: deps.launcher,
      policy: deps.policy,
      logger: deps.logger,
      now: deps.now ?? (() => new Date()),
      onClosed: async (result) => {
        countFailures(deps.metrics, result);
        deliveries.push(deliverStatusCallbacks(result, notifyDeps));
      },
    });
    await Promise.all(deliveries);
    // After the calls: a failing pool must not keep stuck calls stuck.
    const standby = await deps.standby?.tend().catch((error: unknown) => {
      deps.logger.error('standby keeper round failed', { error });
      return undefined;
    });
    // Every minute, zeros included, so the alarms see data rather than gaps.
    deps.metrics?.({
      [METRIC.stuckCalls]: stuckCalls(report),
      [METRIC.liveCalls]: report.live,
      ...(standby ? { [METRIC.standbyIdle]: standby.idle, [METRIC.standbyLaunched]: standby.launched } : {}),
    });
    deps.logger.info('sweep done', { ...report, ...(standby ? { standby } : {}) });
    return report;
  };
}
