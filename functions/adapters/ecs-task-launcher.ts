/**
 * `TaskLauncher` on ECS Fargate: one RunTask per call. The task gets the callId only and reads its spec (and the
 * KMS-encrypted password) from DynamoDB itself: RunTask overrides are visible to anyone who can DescribeTasks and
 * are recorded by CloudTrail, so no secret may travel in them.
 * Hang-up is StopTask (ECS sends SIGTERM; the task says BYE and exits) — the `desired` flag the API wrote first
 * is the task's second way to learn it, should the StopTask be lost. DTMF goes through the call's item.
 */
import { RunTaskCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { LaunchError } from '../../shared/call-errors.ts';
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';
import type { TaskLauncher } from '../core/ports.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { withBackoff, type RetryOptions } from '../../shared/aws/aws-retry.ts';
import type { DynamoDbCommandMailbox } from '../../shared/aws/dynamodb-command-mailbox.ts';
import { stopEcsTask } from './ecs-task-inspector.ts';

/** The tag (and `startedBy`) that ties a task to its call: the reconciler reads it back from ECS events. */
export const CALL_ID_TAG = 'callId';

export interface EcsTaskLauncherOptions {
  ecs: ECSClient;
  mailbox: Pick<DynamoDbCommandMailbox, 'push'>;
  cluster: string;
  taskDefinition: string;
  containerName: string;
  subnets: string[];
  securityGroups: string[];
  retry?: RetryOptions;
}

export class EcsTaskLauncher implements TaskLauncher {
  constructor(private readonly options: EcsTaskLauncherOptions) {}

  async launch(spec: CallSpec): Promise<{ taskRef: string }> {
    const { ecs, cluster, taskDefinition, containerName, subnets, securityGroups } = this.options;
    const command = new RunTaskCommand({
      cluster,
      taskDefinition,
      launchType: 'FARGATE',
      count: 1,
      // RunTask is idempotent per token: a retried launch of the same call cannot start a second task.
      clientToken: spec.callId,
      startedBy: spec.callId,
      tags: [{ key: CALL_ID_TAG, value: spec.callId }],
      networkConfiguration: {
        // A public IP, no NAT gateway: SIP and RTP peers must reach the task directly, and NAT would cost more.
        awsvpcConfiguration: { subnets, securityGroups, assignPublicIp: 'ENABLED' },
      },
      overrides: { containerOverrides: [{ name: containerName, environment: [{ name: TASK_ENV.callId, value: spec.callId }] }] },
    });
    let response;
    try {
      response = await withBackoff(() => ecs.send(command), this.options.retry);
    } catch (error) {
      throw new LaunchError(`RunTask failed: ${(error as Error).message}`, { cause: error });
    }
    const taskArn = response.tasks?.[0]?.taskArn;
    if (!taskArn) {
      // Capacity and configuration problems come back as `failures`, not as an exception.
      const reasons = (response.failures ?? []).map((f) => [f.reason, f.detail].filter(Boolean).join(': ')).join('; ');
      throw new LaunchError(`RunTask started no task${reasons ? `: ${reasons}` : ''}`);
    }
    return { taskRef: taskArn };
  }

  async stop(callId: string, taskRef?: string): Promise<void> {
    // No task yet: the launch in flight sees `desired: ended` (CallService.start) and stops it then.
    if (!taskRef) return;
    await stopEcsTask(this.options.ecs, this.options.cluster, taskRef, `hang-up requested for call ${callId}`, this.options.retry);
  }

  async sendCommand(callId: string, command: TaskCommand, taskRef?: string): Promise<void> {
    if (command.type === 'hangup') return this.stop(callId, taskRef);
    await this.options.mailbox.push(callId, command);
  }
}
