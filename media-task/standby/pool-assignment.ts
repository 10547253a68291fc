/**
 * An AWS standby task's wait for its call: it tells the pool it is ready, then reads its own entry until the
 * control plane assigns it a call (no inbound port, no queue per task). The assignment comes after the call's
 * record names this task, so the task's first event is never taken for a stranger's, and it carries the call's
 * password sealed for this task alone.
 */
import type { StandbyRegistry } from '../../shared/standby-registry.ts';
import type { Logger } from '../../shared/log.ts';

/** How often an idle standby reads its entry: the most a claimed call waits for its task to notice. */
export const ASSIGNMENT_POLL_MS = 200;

export interface PoolAssignmentOptions {
  registry: StandbyRegistry;
  taskRef: string;
  logger: Logger;
  signal: AbortSignal;
  now?: () => Date;
  pollMs?: number;
}

export interface PoolAssignment {
  callId: string;
  /** The call's SIP password, sealed for this task (shared/aws/kms-secret-cipher.ts). */
  sealed: string;
}

/** The call assigned to this task, or undefined when the pool dropped it (recycled, or never listed) or `signal` aborted. */
export async function waitForPoolAssignment(options: PoolAssignmentOptions): Promise<PoolAssignment | undefined> {
  const { registry, taskRef, logger, signal } = options;
  const now = options.now ?? (() => new Date());
  if (!(await registry.markIdle(taskRef, now().toISOString()))) {
    logger.warn('the standby pool does not list this task; exiting', { taskRef });
    return undefined;
  }
  logger.info('standby task idle', { taskRef });
  while (!signal.aborted) {
    try {
      const entry = await registry.get(taskRef);
      if (!entry) {
        logger.info('standby task withdrawn from the pool; exiting', { taskRef });
        return undefined;
      }
      // The entry stays: the keeper drops assigned entries (the task may write its entry, not the pool's index).
      if (entry.state === 'assigned' && entry.callId && entry.sealed)
        return { callId: entry.callId, sealed: entry.sealed };
    } catch (error) {
      logger.warn('could not read the standby pool', { error });
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? ASSIGNMENT_POLL_MS));
  }
  return undefined;
}
