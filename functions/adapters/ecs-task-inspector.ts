/**
 * `TaskInspector` on ECS: DescribeTasks on the calls' task ARNs, up to 100 per request (the API's limit).
 * ECS answers a task it does not know (never started, or stopped long enough ago to be forgotten) as a failure
 * with reason `MISSING`. A request that fails answers `unknown` for its tasks: the sweeper then judges none of
 * them gone (functions/core/call-sweep.ts).
 * StopTask lives here too, shared with the launcher: the sweeper stops tasks without launching any.
 */
import { DescribeTasksCommand, StopTaskCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { LaunchError } from '../../shared/call-errors.ts';
import type { ObservedTask } from '../core/call-sweep.ts';
import type { Logger, TaskInspector } from '../core/ports.ts';
import { withBackoff, type RetryOptions } from '../../shared/aws/aws-retry.ts';

/** DescribeTasks takes at most this many tasks per request. */
export const DESCRIBE_TASKS_BATCH = 100;

export interface EcsTaskInspectorOptions {
  ecs: ECSClient;
  cluster: string;
  logger: Logger;
  retry?: RetryOptions;
}

export class EcsTaskInspector implements TaskInspector {
  constructor(private readonly options: EcsTaskInspectorOptions) {}

  async inspect(taskRefs: readonly string[]): Promise<Map<string, ObservedTask>> {
    const { ecs, cluster, logger, retry } = this.options;
    const observed = new Map<string, ObservedTask>();
    const unique = [...new Set(taskRefs)];
    for (let start = 0; start < unique.length; start += DESCRIBE_TASKS_BATCH) {
      const batch = unique.slice(start, start + DESCRIBE_TASKS_BATCH);
      try {
        const response = await withBackoff(() => ecs.send(new DescribeTasksCommand({ cluster, tasks: batch })), retry);
        for (const task of response.tasks ?? []) {
          if (!task.taskArn) continue;
          observed.set(
            task.taskArn,
            task.lastStatus === 'STOPPED'
              ? {
                  status: 'stopped',
                  ...(task.stoppedAt ? { stoppedAt: task.stoppedAt.toISOString() } : {}),
                  reason: describeStop(task),
                }
              : { status: 'running' },
          );
        }
        for (const failure of response.failures ?? []) {
          if (failure.arn && failure.reason === 'MISSING') observed.set(failure.arn, { status: 'missing' });
        }
      } catch (error) {
        logger.warn('DescribeTasks failed; those tasks are left for the next sweep', { tasks: batch.length, error });
      }
      for (const ref of batch) if (!observed.has(ref)) observed.set(ref, { status: 'unknown' });
    }
    return observed;
  }
}

/** The fields of a stopped task that say why, as in DescribeTasks answers and "ECS Task State Change" events. */
export interface StoppedTask {
  stoppedReason?: string;
  stopCode?: string;
  containers?: { exitCode?: number; reason?: string }[];
}

/** "Essential container in task exited (EssentialContainerExited, exit code 137, OutOfMemoryError: ...)" and the like. */
export function describeStop(task: StoppedTask): string {
  const container = task.containers?.find((c) => c.exitCode !== undefined || c.reason) ?? task.containers?.[0];
  const details = [
    task.stopCode,
    container?.exitCode === undefined ? undefined : `exit code ${container.exitCode}`,
    container?.reason,
  ].filter(Boolean);
  return `${task.stoppedReason ?? 'no reason given'}${details.length ? ` (${details.join(', ')})` : ''}`;
}

/** StopTask with backoff; a task that already stopped (or was never found) is what was wanted. */
export async function stopEcsTask(
  ecs: ECSClient,
  cluster: string,
  taskRef: string,
  reason: string,
  retry?: RetryOptions,
): Promise<void> {
  try {
    await withBackoff(() => ecs.send(new StopTaskCommand({ cluster, task: taskRef, reason })), retry);
  } catch (error) {
    if (isTaskGone(error)) return;
    throw new LaunchError(`StopTask failed: ${(error as Error).message}`, { cause: error });
  }
}

function isTaskGone(error: unknown): boolean {
  const e = error as Error;
  return e.name === 'InvalidParameterException' && /not found|does not exist|stopped/i.test(e.message);
}
