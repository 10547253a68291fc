import { ECSClient, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { EcsTaskLauncher } from '../../functions/adapters/ecs-task-launcher.ts';
import { LaunchError } from '../../shared/call-errors.ts';
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';

const ecsMock = mockClient(ECSClient);
afterEach(() => ecsMock.reset());

const spec: CallSpec = {
  callId: 'call-1',
  callee: '10001',
  rtmpUrl: 'rtmp://203.0.113.10/live',
  rtmpStream: 's',
  hasAudio: true,
  hasVideo: false,
  maxDurationSeconds: 60,
  rtpTimeoutSeconds: 30,
  connection: { sipLogin: '10000', sipPassword: 'hunter2-secret', sipAuthenticationName: '10000', sipDomain: 'sip.example.net', sipPort: 5060, sipRegisterRequired: false, transport: 'udp' },
};

const taskArn = 'arn:aws:ecs:eu-west-1:123456789012:task/c/abc';
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

function launcher(pushed: { callId: string; command: TaskCommand }[] = []) {
  const sleeps: number[] = [];
  const instance = new EcsTaskLauncher({
    ecs: new ECSClient({ region: 'eu-west-1' }),
    mailbox: { push: async (callId, command) => void pushed.push({ callId, command }) },
    cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/c',
    taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/media:3',
    containerName: 'media',
    subnets: ['subnet-a', 'subnet-b'],
    securityGroups: ['sg-1'],
    retry: { sleep: async (ms) => void sleeps.push(ms), random: () => 1 },
  });
  return { instance, sleeps, pushed };
}

describe('EcsTaskLauncher', () => {
  it('runs one Fargate task with a public IP, passing the callId only', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn }], failures: [] });
    const { taskRef } = await launcher().instance.launch(spec);
    expect(taskRef).toBe(taskArn);
    const input = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(input).toEqual({
      cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/c',
      taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/media:3',
      launchType: 'FARGATE',
      count: 1,
      clientToken: 'call-1',
      startedBy: 'call-1',
      tags: [{ key: 'callId', value: 'call-1' }],
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'], assignPublicIp: 'ENABLED' } },
      overrides: { containerOverrides: [{ name: 'media', environment: [{ name: 'CALL_ID', value: 'call-1' }] }] },
    });
    // RunTask overrides show in DescribeTasks and CloudTrail: nothing of the spec but its id may be in them.
    expect(JSON.stringify(input)).not.toContain('hunter2-secret');
    expect(JSON.stringify(input)).not.toContain('sip.example.net');
  });

  it('retries a throttled RunTask with growing backoff, then succeeds', async () => {
    ecsMock.on(RunTaskCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({ tasks: [{ taskArn }] });
    const { instance, sleeps } = launcher();
    await expect(instance.launch(spec)).resolves.toEqual({ taskRef: taskArn });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('gives up after 5 throttled tries with a LaunchError that keeps the cause', async () => {
    ecsMock.on(RunTaskCommand).rejects(throttled());
    const { instance, sleeps } = launcher();
    const error = await instance.launch(spec).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as LaunchError).cause).toMatchObject({ name: 'ThrottlingException' });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(5);
    expect(sleeps).toEqual([100, 200, 400, 800]);
  });

  it('does not retry a request ECS refuses', async () => {
    ecsMock.on(RunTaskCommand).rejects(Object.assign(new Error('No Container Instances were found'), { name: 'InvalidParameterException' }));
    await expect(launcher().instance.launch(spec)).rejects.toThrow(LaunchError);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it('turns RunTask failures (capacity) into a LaunchError naming the reason', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: 'Capacity is unavailable at this time', detail: 'eu-west-1a' }] });
    await expect(launcher().instance.launch(spec)).rejects.toThrow(/Capacity is unavailable at this time: eu-west-1a/);
  });

  it('stops the task with StopTask, retrying throttling', async () => {
    ecsMock.on(StopTaskCommand).rejectsOnce(throttled()).resolves({});
    await launcher().instance.stop('call-1', taskArn);
    const calls = ecsMock.commandCalls(StopTaskCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.args[0].input).toEqual({ cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/c', task: taskArn, reason: 'hang-up requested for call call-1' });
  });

  it('treats a task that is already gone as stopped, and a call without task as nothing to stop', async () => {
    ecsMock.on(StopTaskCommand).rejects(Object.assign(new Error('The referenced task was not found.'), { name: 'InvalidParameterException' }));
    await expect(launcher().instance.stop('call-1', taskArn)).resolves.toBeUndefined();
    await launcher().instance.stop('call-1');
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1);
  });

  it('reports other StopTask failures as LaunchError', async () => {
    ecsMock.on(StopTaskCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(launcher().instance.stop('call-1', taskArn)).rejects.toThrow(LaunchError);
  });

  it('queues DTMF in the mailbox and turns a hang-up command into StopTask', async () => {
    ecsMock.on(StopTaskCommand).resolves({});
    const { instance, pushed } = launcher();
    await instance.sendCommand('call-1', { type: 'dtmf', digits: '12#', method: 'info' }, taskArn);
    await instance.sendCommand('call-1', { type: 'hangup' }, taskArn);
    expect(pushed).toEqual([{ callId: 'call-1', command: { type: 'dtmf', digits: '12#', method: 'info' } }]);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });
});
