/**
 * `TaskLauncher` on ECS Fargate: one RunTask per call. The task gets the callId and its SIP password sealed with
 * KMS (encryption context: the callId), and reads its spec from DynamoDB itself. RunTask overrides are visible to
 * anyone who can DescribeTasks and are recorded by CloudTrail: the plaintext never travels in them, and the
 * ciphertext is of no use without kms:Decrypt on the key. The task role cannot read the password stored with the
 * call, so a task that parsed something hostile reads no other call's.
 * Hang-up is StopTask (ECS sends SIGTERM; the task says BYE and exits) — the `desired` flag the API wrote first
 * is the task's second way to learn it, should the StopTask be lost. DTMF goes through the call's item.
 */
import { createHash, randomUUID } from 'node:crypto';
import { RunTaskCommand, type ECSClient, type RunTaskCommandOutput } from '@aws-sdk/client-ecs';
import { LaunchError } from '../../shared/call-errors.ts';
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';
import type { TaskLauncher } from '../core/ports.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { isRetryableAwsError, retryClock, withBackoff, type RetryOptions } from '../../shared/aws/aws-retry.ts';
import type { DynamoDbCommandMailbox } from '../../shared/aws/dynamodb-command-mailbox.ts';
import { stopEcsTask } from './ecs-task-inspector.ts';
import type { StandbyLauncher } from '../standby-pool.ts';
import type { SecretCipher } from '../../shared/aws/secret-cipher.ts';

/** The tag (and `startedBy`) that ties a task to its call: the reconciler reads it back from ECS events. */
export const CALL_ID_TAG = 'callId';
/**
 * `startedBy` of a standby task, which gets its call later: the reconciler cannot name its call from its events
 * (the call's record names another task, or none), so the sweeper closes such a call if its task dies unreported.
 */
export const STANDBY_STARTED_BY = 'standby';

export interface EcsTaskLauncherOptions {
  ecs: ECSClient;
  /** Seals each task's copy of its SIP password (KMS, bound to the call, and for a standby task to it too). */
  cipher: SecretCipher;
  mailbox: Pick<DynamoDbCommandMailbox, 'push'>;
  cluster: string;
  taskDefinition: string;
  containerName: string;
  subnets: string[];
  securityGroups: string[];
  retry?: RetryOptions;
  /**
   * How long a launch keeps trying while Fargate has no room (capacity, the account's task or vCPU quota) or
   * RunTask stays throttled, before the call fails with reason `capacity`. Default 20 s: the API answers the
   * POST within API Gateway's 29 s, and the sweeper's launch grace is longer.
   */
  capacityWaitMs?: number;
  /** For tests: the clock the wait is measured on (ms). */
  now?: () => number;
}

/**
 * RunTask's words for "no room now, try later": Fargate capacity in the subnets' zones, and the account's
 * concurrent task and vCPU quotas, which come back as failures or as a refused request.
 */
const NO_ROOM = /capacity is unavailable|reached the limit on the number of/i;

/** Between two launch tries that found no room: a few seconds, jittered, so that waiting calls spread out. */
const ROOM_RETRY_MS = { first: 1_000, max: 4_000 };

type RunTaskTry =
  | { taskRef: string }
  /** `answered`: ECS said it started no task, so the next try may use a new token; else it may have. */
  | { problem: string; answered: boolean; cause?: unknown };

/** The call's id, then a fresh token for each retry after ECS answered that it started no task (64 characters at most). */
function clientToken(callId: string, retry: number): string {
  return retry === 0 ? callId : createHash('sha256').update(`${callId}\n${retry}`).digest('hex').slice(0, 40);
}

export class EcsTaskLauncher implements TaskLauncher, StandbyLauncher {
  constructor(private readonly options: EcsTaskLauncherOptions) {}

  /**
   * Starts the call's task, waiting up to `capacityWaitMs` for room. RunTask is idempotent per client token: a
   * request that failed without an answer (throttled, timed out) is retried with the same token, so it cannot
   * start a second task; after ECS answered that it started none, the next try takes a new token, since ECS
   * may answer a reused one from its record of the failed request.
   */
  async launch(spec: CallSpec): Promise<{ taskRef: string }> {
    const now = this.options.now ?? Date.now;
    // The wait for room jitters and sleeps as the quick retries do, on the same clock.
    const { sleep, random } = retryClock(this.options.retry);
    const waitMs = this.options.capacityWaitMs ?? 20_000;
    const deadline = now() + waitMs;
    let answeredWithoutTask = 0;
    const sealed = await this.options.cipher.encrypt(spec.connection.sipPassword, spec.callId);
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.tryRunTask(
        {
          startedBy: spec.callId,
          environment: { [TASK_ENV.callId]: spec.callId, [TASK_ENV.callSecret]: sealed },
          tags: { [CALL_ID_TAG]: spec.callId },
        },
        clientToken(spec.callId, answeredWithoutTask),
      );
      if ('taskRef' in outcome) return outcome;
      if (outcome.answered) answeredWithoutTask++;
      const pause = Math.min(ROOM_RETRY_MS.max, ROOM_RETRY_MS.first * 2 ** attempt) * (0.5 + random() / 2);
      if (now() + pause > deadline) {
        throw new LaunchError(`no room for a media task within ${waitMs / 1000} s: ${outcome.problem}`, {
          cause: outcome.cause,
          reason: 'capacity',
        });
      }
      await sleep(pause);
    }
  }

  /**
   * One RunTask for the standby pool, not waiting for room: a refill that finds none is retried by the next
   * sweep, and meanwhile calls launch their own tasks.
   */
  async startStandby(): Promise<string> {
    const outcome = await this.tryRunTask(
      { startedBy: STANDBY_STARTED_BY, environment: { [TASK_ENV.standby]: '1' } },
      randomUUID(),
    );
    if ('taskRef' in outcome) return outcome.taskRef;
    throw new LaunchError(`no room for a standby task: ${outcome.problem}`, {
      cause: outcome.cause,
      reason: 'capacity',
    });
  }

  /** Bound to the task's ARN as well: the pool entry that carries it is readable by every task. */
  async seal(taskRef: string, spec: CallSpec): Promise<string> {
    return this.options.cipher.encrypt(spec.connection.sipPassword, spec.callId, taskRef);
  }

  /** Nothing to send: the task reads its assignment from its pool entry (media-task/standby/pool-assignment.ts). */
  async handOver(): Promise<void> {}

  async stopStandby(taskRef: string): Promise<void> {
    await stopEcsTask(this.options.ecs, this.options.cluster, taskRef, 'standby task recycled', this.options.retry);
  }

  /** It boots on Fargate, not here. */
  async booted(): Promise<void> {}

  /** One RunTask (its throttling retried quickly); a LaunchError for what no later try can mend. */
  private async tryRunTask(
    task: { startedBy: string; environment: Record<string, string>; tags?: Record<string, string> },
    token: string,
  ): Promise<RunTaskTry> {
    const { ecs, cluster, taskDefinition, containerName, subnets, securityGroups } = this.options;
    const command = new RunTaskCommand({
      cluster,
      taskDefinition,
      launchType: 'FARGATE',
      count: 1,
      clientToken: token,
      startedBy: task.startedBy,
      ...(task.tags ? { tags: Object.entries(task.tags).map(([key, value]) => ({ key, value })) } : {}),
      networkConfiguration: {
        // A public IP, no NAT gateway: SIP and RTP peers must reach the task directly, and NAT would cost more.
        awsvpcConfiguration: { subnets, securityGroups, assignPublicIp: 'ENABLED' },
      },
      overrides: {
        containerOverrides: [
          {
            name: containerName,
            environment: Object.entries(task.environment).map(([name, value]) => ({ name, value })),
          },
        ],
      },
    });
    let response: RunTaskCommandOutput;
    try {
      response = await withBackoff(() => ecs.send(command), this.options.retry);
    } catch (error) {
      const message = (error as Error).message;
      if (isRetryableAwsError(error) || NO_ROOM.test(message))
        return { problem: message, answered: false, cause: error };
      throw new LaunchError(`RunTask failed: ${message}`, { cause: error });
    }
    const taskArn = response.tasks?.[0]?.taskArn;
    if (taskArn) return { taskRef: taskArn };
    // Capacity and configuration problems come back as `failures`, not as an exception.
    const reasons = (response.failures ?? []).map((f) => [f.reason, f.detail].filter(Boolean).join(': ')).join('; ');
    if (NO_ROOM.test(reasons)) return { problem: reasons, answered: true };
    throw new LaunchError(`RunTask started no task${reasons ? `: ${reasons}` : ''}`);
  }

  async stop(callId: string, taskRef?: string): Promise<void> {
    // No task yet: the launch in flight sees `desired: ended` (CallService.start) and stops it then.
    if (!taskRef) return;
    await stopEcsTask(
      this.options.ecs,
      this.options.cluster,
      taskRef,
      `hang-up requested for call ${callId}`,
      this.options.retry,
    );
  }

  async sendCommand(callId: string, command: TaskCommand, taskRef?: string): Promise<void> {
    if (command.type === 'hangup') return this.stop(callId, taskRef);
    await this.options.mailbox.push(callId, command);
  }
}
