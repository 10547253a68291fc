import { ECSClient, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { EcsTaskLauncher, STANDBY_STARTED_BY } from '../../functions/adapters/ecs-task-launcher.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
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
  connection: {
    sipLogin: '10000',
    sipPassword: 'hunter2-secret',
    sipAuthenticationName: '10000',
    sipDomain: 'sip.example.net',
    sipPort: 5060,
    sipRegisterRequired: false,
    transport: 'udp',
  },
};

const taskArn = 'arn:aws:ecs:eu-west-1:123456789012:task/c/abc';
/** Shows what it sealed and for whom, as KMS's encryption context binds it. */
const testCipher = {
  encrypt: async (plaintext: string, callId: string, taskRef?: string) =>
    `sealed(${callId}${taskRef ? `, ${taskRef}` : ''}):${plaintext.length}`,
  decrypt: async () => {
    throw new Error('the launcher decrypts nothing');
  },
};
const throttled = () =>
  Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

function launcher(pushed: { callId: string; command: TaskCommand }[] = []) {
  const sleeps: number[] = [];
  // A clock that only the launcher's sleeps move: its wait for room is measured on it.
  let clock = 0;
  const instance = new EcsTaskLauncher({
    ecs: new ECSClient({ region: 'eu-west-1' }),
    cipher: testCipher,
    mailbox: { push: async (callId, command) => void pushed.push({ callId, command }) },
    cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/c',
    taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/media:3',
    containerName: 'media',
    subnets: ['subnet-a', 'subnet-b'],
    securityGroups: ['sg-1'],
    retry: {
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
      random: () => 1,
    },
    now: () => clock,
  });
  return { instance, sleeps, pushed };
}

describe('EcsTaskLauncher standby tasks', () => {
  it('starts a standby task with STANDBY=1 and no call (no callId, tag or spec), and stops it on recycling', async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn }] });
    ecsMock.on(StopTaskCommand).resolves({});
    const { instance } = launcher();
    expect(await instance.startStandby()).toBe(taskArn);
    const input = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      launchType: 'FARGATE',
      startedBy: STANDBY_STARTED_BY,
      networkConfiguration: { awsvpcConfiguration: { assignPublicIp: 'ENABLED' } },
      overrides: { containerOverrides: [{ name: 'media', environment: [{ name: TASK_ENV.standby, value: '1' }] }] },
    });
    expect(input.tags).toBeUndefined();
    // Each refill's own token: two standby tasks are two requests, not one retried.
    await instance.startStandby();
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((call) => call.args[0].input.clientToken);
    expect(new Set(tokens).size).toBe(2);

    // The password a standby task reads from its pool entry is bound to that task too.
    expect(await instance.seal(taskArn, spec)).toBe(`sealed(call-1, ${taskArn}):14`);

    await instance.stopStandby(taskArn);
    expect(ecsMock.commandCalls(StopTaskCommand)[0]!.args[0].input).toMatchObject({
      task: taskArn,
      reason: 'standby task recycled',
    });
  });

  it('fails a standby start without waiting for room: the next sweep tries again', async () => {
    ecsMock.on(RunTaskCommand).resolves({ failures: [{ reason: 'Capacity is unavailable at this time' }] });
    const { instance, sleeps } = launcher();
    await expect(instance.startStandby()).rejects.toMatchObject({ reason: 'capacity' });
    expect(sleeps).toEqual([]);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });
});

describe('EcsTaskLauncher', () => {
  it('runs one Fargate task with a public IP, passing the callId and its password sealed for the call', async () => {
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
      networkConfiguration: {
        awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'], assignPublicIp: 'ENABLED' },
      },
      overrides: {
        containerOverrides: [
          {
            name: 'media',
            environment: [
              { name: 'CALL_ID', value: 'call-1' },
              { name: TASK_ENV.callSecret, value: 'sealed(call-1):14' },
            ],
          },
        ],
      },
    });
    // RunTask overrides show in DescribeTasks and CloudTrail: nothing of the spec but its id and the sealed password.
    expect(JSON.stringify(input)).not.toContain('hunter2-secret');
    expect(JSON.stringify(input)).not.toContain('sip.example.net');
  });

  it('retries a throttled RunTask with growing backoff, then succeeds', async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolves({ tasks: [{ taskArn }] });
    const { instance, sleeps } = launcher();
    await expect(instance.launch(spec)).resolves.toEqual({ taskRef: taskArn });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('keeps trying a RunTask throttled past its quick retries, with the same token, until the wait for room ends: reason capacity', async () => {
    ecsMock.on(RunTaskCommand).rejects(throttled());
    const { instance, sleeps } = launcher();
    const error = await instance.launch(spec).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect(error).toMatchObject({ reason: 'capacity', message: 'no room for a media task within 20 s: Rate exceeded' });
    expect((error as LaunchError).cause).toMatchObject({ name: 'ThrottlingException' });
    const calls = ecsMock.commandCalls(RunTaskCommand);
    // Each try is 5 quick ones (100..800 ms apart); between tries 1, 2, then 4 s, until 20 s have gone by.
    expect(calls.length % 5).toBe(0);
    expect(calls.length).toBeGreaterThan(10);
    expect(sleeps.reduce((sum, ms) => sum + ms, 0)).toBeLessThanOrEqual(20_000);
    expect(new Set(calls.map((call) => call.args[0].input.clientToken))).toEqual(new Set(['call-1']));
  });

  it('does not retry a request ECS refuses', async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejects(Object.assign(new Error('No Container Instances were found'), { name: 'InvalidParameterException' }));
    await expect(launcher().instance.launch(spec)).rejects.toMatchObject({ name: 'LaunchError', reason: 'launch' });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it('waits for Fargate capacity, with a new token after each answer that started no task, and starts one task', async () => {
    const noRoom = {
      tasks: [],
      failures: [
        { reason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone' },
      ],
    };
    ecsMock
      .on(RunTaskCommand)
      .resolvesOnce(noRoom)
      .resolvesOnce(noRoom)
      .resolves({ tasks: [{ taskArn }] });
    const { instance, sleeps } = launcher();
    await expect(instance.launch(spec)).resolves.toEqual({ taskRef: taskArn });
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((call) => call.args[0].input.clientToken!);
    expect(tokens).toHaveLength(3);
    expect(tokens[0]).toBe('call-1');
    expect(new Set(tokens).size).toBe(3);
    expect(tokens.every((token) => token.length <= 64)).toBe(true);
    expect(sleeps).toEqual([1_000, 2_000]);
  });

  it.each([
    [
      'the concurrent task quota, refused',
      () =>
        ecsMock.on(RunTaskCommand).rejects(
          Object.assign(new Error("You've reached the limit on the number of tasks you can run concurrently"), {
            name: 'ClientException',
          }),
        ),
    ],
    [
      'the vCPU quota, as a failure',
      () =>
        ecsMock.on(RunTaskCommand).resolves({
          tasks: [],
          failures: [{ reason: "You've reached the limit on the number of vCPUs you can run concurrently" }],
        }),
    ],
    [
      'no capacity, as a failure',
      () =>
        ecsMock.on(RunTaskCommand).resolves({
          tasks: [],
          failures: [{ reason: 'Capacity is unavailable at this time', detail: 'eu-west-1a' }],
        }),
    ],
  ])('fails with reason capacity when %s lasts past the wait', async (_, answer) => {
    answer();
    const error = (await launcher()
      .instance.launch(spec)
      .catch((e: unknown) => e)) as LaunchError;
    expect(error).toBeInstanceOf(LaunchError);
    expect(error.reason).toBe('capacity');
    expect(error.message).toMatch(
      /^no room for a media task within 20 s: (You've reached the limit|Capacity is unavailable at this time: eu-west-1a)/,
    );
    expect(ecsMock.commandCalls(RunTaskCommand).length).toBeGreaterThan(3);
  });

  it('turns other RunTask failures into a LaunchError naming the reason, at once', async () => {
    ecsMock
      .on(RunTaskCommand)
      .resolves({ tasks: [], failures: [{ reason: 'ATTRIBUTE', detail: 'requires ecs.capability.x' }] });
    await expect(launcher().instance.launch(spec)).rejects.toMatchObject({
      reason: 'launch',
      message: 'RunTask started no task: ATTRIBUTE: requires ecs.capability.x',
    });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it('stops the task with StopTask, retrying throttling', async () => {
    ecsMock.on(StopTaskCommand).rejectsOnce(throttled()).resolves({});
    await launcher().instance.stop('call-1', taskArn);
    const calls = ecsMock.commandCalls(StopTaskCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.args[0].input).toEqual({
      cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/c',
      task: taskArn,
      reason: 'hang-up requested for call call-1',
    });
  });

  it('treats a task that is already gone as stopped, and a call without task as nothing to stop', async () => {
    ecsMock
      .on(StopTaskCommand)
      .rejects(Object.assign(new Error('The referenced task was not found.'), { name: 'InvalidParameterException' }));
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
