/**
 * The sweeper on AWS: DescribeTasks/StopTask request shapes (aws-sdk-client-mock), the Lambda's logic over the
 * in-memory store with a real ECS adapter, the EMF metric line it prints, and RunTask failing after the store write.
 */
import { DescribeTasksCommand, ECSClient, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { DynamoDbCallStore, LIVE_INDEX } from '../../shared/aws/dynamodb-call-store.ts';
import { DESCRIBE_TASKS_BATCH, EcsTaskInspector, stopEcsTask } from '../../functions/adapters/ecs-task-inspector.ts';
import { EcsTaskLauncher } from '../../functions/adapters/ecs-task-launcher.ts';
import { createApp } from '../../functions/app/create-app.ts';
import { readSweeperConfig, AwsConfigError, LAMBDA_ENV } from '../../functions/aws/aws-config.ts';
import { createSweeperHandler } from '../../functions/aws/call-sweeper.ts';
import type { StandbyRound } from '../../functions/standby-pool.ts';
import { emfLine, emfSink, METRIC, type MetricName } from '../../functions/aws/metrics.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import { LIST_PRICES } from '../../functions/core/call-usage.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { STANDBY_ENV } from '../../functions/standby-config.ts';
import { SWEEP_ENV } from '../../functions/sweep-config.ts';
import { sweep } from '../../functions/sweeper.ts';
import { silentLogger } from '../../shared/log.ts';
import { fakeDns, MemoryCallStore } from '../functions/fakes.ts';

const ecsMock = mockClient(ECSClient);
afterEach(() => ecsMock.reset());

const CLUSTER = 'arn:aws:ecs:eu-west-1:123456789012:cluster/c';
const arn = (id: string) => `arn:aws:ecs:eu-west-1:123456789012:task/c/${id}`;
const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const noWait = { sleep: async () => {}, random: () => 0 };

function spec(callId: string, stream = callId): CallSpec {
  return {
    callId,
    callee: '1',
    rtmpUrl: 'rtmp://203.0.113.1/live',
    rtmpStream: stream,
    hasAudio: true,
    hasVideo: false,
    maxDurationSeconds: 60,
    rtpTimeoutSeconds: 30,
    connection: {
      sipLogin: '1',
      sipPassword: 'hunter2-secret',
      sipAuthenticationName: '1',
      sipDomain: '203.0.113.2',
      sipPort: 5060,
      sipRegisterRequired: false,
      transport: 'udp',
    },
  };
}

async function storeWith(calls: { callId: string; taskRef?: string }[]) {
  const store = new MemoryCallStore();
  for (const { callId, taskRef } of calls) {
    const { record, secret } = newCallRecord(spec(callId), new Date(T0).toISOString());
    await store.create({ ...record, ...(taskRef ? { taskRef } : {}) }, secret);
  }
  return store;
}

const inspector = () =>
  new EcsTaskInspector({
    ecs: new ECSClient({ region: 'eu-west-1' }),
    cluster: CLUSTER,
    logger: silentLogger,
    retry: noWait,
  });

describe('EcsTaskInspector', () => {
  it('asks DescribeTasks about at most 100 tasks per request, on the cluster', async () => {
    ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.map((taskArn) => ({ taskArn, lastStatus: 'RUNNING' })),
      failures: [],
    }));
    const refs = Array.from({ length: 250 }, (_, i) => arn(`t${i}`));
    const observed = await inspector().inspect([...refs, refs[0]!]);
    const inputs = ecsMock.commandCalls(DescribeTasksCommand).map((call) => call.args[0].input);
    expect(inputs.map((input) => input.tasks!.length)).toEqual([DESCRIBE_TASKS_BATCH, DESCRIBE_TASKS_BATCH, 50]);
    expect(inputs.every((input) => input.cluster === CLUSTER)).toBe(true);
    expect(inputs.flatMap((input) => input.tasks)).toEqual(refs);
    expect(observed.size).toBe(250);
    expect(observed.get(refs[249]!)).toEqual({ status: 'running' });
  });

  it('reads STOPPED with its time and reason, MISSING as missing, and a failed request as unknown', async () => {
    const stoppedAt = new Date(T0);
    ecsMock
      .on(DescribeTasksCommand)
      .resolvesOnce({
        tasks: [
          {
            taskArn: arn('a'),
            lastStatus: 'STOPPED',
            stoppedAt,
            stoppedReason: 'Essential container in task exited',
            stopCode: 'EssentialContainerExited',
            containers: [{ exitCode: 137, reason: 'OutOfMemoryError' }],
          },
          { taskArn: arn('b'), lastStatus: 'DEPROVISIONING' },
        ],
        failures: [{ arn: arn('c'), reason: 'MISSING' }],
      })
      .rejectsOnce(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const first = await inspector().inspect([arn('a'), arn('b'), arn('c')]);
    expect(Object.fromEntries(first)).toEqual({
      [arn('a')]: {
        status: 'stopped',
        stoppedAt: stoppedAt.toISOString(),
        reason: 'Essential container in task exited (EssentialContainerExited, exit code 137, OutOfMemoryError)',
      },
      [arn('b')]: { status: 'running' },
      [arn('c')]: { status: 'missing' },
    });
    expect(Object.fromEntries(await inspector().inspect([arn('d')]))).toEqual({ [arn('d')]: { status: 'unknown' } });
  });

  it('StopTask names the cluster, the task and why; a task already gone is fine', async () => {
    ecsMock
      .on(StopTaskCommand)
      .resolvesOnce({})
      .rejectsOnce(
        Object.assign(new Error('The referenced task was not found.'), { name: 'InvalidParameterException' }),
      );
    const ecs = new ECSClient({ region: 'eu-west-1' });
    await stopEcsTask(ecs, CLUSTER, arn('a'), 'call x past its max duration (sweeper)', noWait);
    await stopEcsTask(ecs, CLUSTER, arn('a'), 'again', noWait);
    expect(ecsMock.commandCalls(StopTaskCommand)[0]!.args[0].input).toEqual({
      cluster: CLUSTER,
      task: arn('a'),
      reason: 'call x past its max duration (sweeper)',
    });
  });
});

describe('sweeper Lambda', () => {
  function handler(store: MemoryCallStore, nowSeconds: number, standby?: { tend: () => Promise<StandbyRound> }) {
    const metrics: Partial<Record<MetricName, number>>[] = [];
    const ecs = new ECSClient({ region: 'eu-west-1' });
    const run = createSweeperHandler({
      store,
      inspector: new EcsTaskInspector({ ecs, cluster: CLUSTER, logger: silentLogger, retry: noWait }),
      launcher: {
        stop: async (callId, taskRef) =>
          void (
            taskRef &&
            (await stopEcsTask(ecs, CLUSTER, taskRef, `call ${callId} past its max duration (sweeper)`, noWait))
          ),
      },
      policy: { launchGraceMs: 30_000, stoppedGraceMs: 30_000, limitGraceMs: 30_000 },
      logger: silentLogger,
      statusSigningKey: 'k',
      pricing: LIST_PRICES,
      metrics: (values) => void metrics.push(values),
      now: () => new Date(T0 + nowSeconds * 1000),
      ...(standby ? { standby } : {}),
    });
    return { run, metrics };
  }

  it('tends the standby pool after the calls, and counts its idle and new tasks; a failing round stops nothing', async () => {
    const store = await storeWith([{ callId: 'never2' }]);
    const round: StandbyRound = { idle: 1, recycled: 1, dropped: 0, launched: 2 };
    const tended = handler(store, 31, { tend: async () => round });
    expect(await tended.run()).toMatchObject({ closed: { launch: 1 } });
    expect(tended.metrics.at(-1)).toEqual({
      [METRIC.stuckCalls]: 1,
      [METRIC.liveCalls]: 1,
      [METRIC.standbyIdle]: 1,
      [METRIC.standbyLaunched]: 2,
    });
    const failing = handler(await storeWith([{ callId: 'never3' }]), 31, {
      tend: async () => {
        throw new Error('DynamoDB is down');
      },
    });
    expect(await failing.run()).toMatchObject({ closed: { launch: 1 } });
    expect(failing.metrics.at(-1)).toEqual({ [METRIC.stuckCalls]: 1, [METRIC.liveCalls]: 1 });
  });

  it('a STOPPED event that never arrived: DescribeTasks says STOPPED, or the task is missing → failed (crashed)', async () => {
    const store = await storeWith([
      { callId: 'stopped1', taskRef: arn('s1') },
      { callId: 'missing1', taskRef: arn('m1') },
      { callId: 'live1', taskRef: arn('l1') },
    ]);
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: arn('s1'),
          lastStatus: 'STOPPED',
          stoppedAt: new Date(T0 + 5_000),
          stoppedReason: 'Essential container in task exited',
          containers: [{ exitCode: 1 }],
        },
        { taskArn: arn('l1'), lastStatus: 'RUNNING' },
      ],
      failures: [{ arn: arn('m1'), reason: 'MISSING' }],
    });
    const { run, metrics } = handler(store, 40);
    expect(await run()).toMatchObject({ live: 3, closed: { crashed: 2 }, errors: 0 });
    expect(await store.get('stopped1')).toMatchObject({
      state: 'failed',
      failure: { reason: 'crashed', message: expect.stringContaining('exit code 1') },
    });
    expect(await store.get('missing1')).toMatchObject({ state: 'failed', failure: { reason: 'crashed' } });
    expect(await store.get('live1')).toMatchObject({ state: 'dialing' });
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
    expect(metrics).toEqual([
      { [METRIC.failedCalls]: 1 },
      { [METRIC.failedCalls]: 1 },
      { [METRIC.stuckCalls]: 2, [METRIC.liveCalls]: 3 },
    ]);
  });

  it('a hung task past maxDuration + grace → StopTask, ended (limit); the next sweep has nothing to do', async () => {
    const store = await storeWith([{ callId: 'hung1', taskRef: arn('h1') }]);
    await recordEvent(store, { type: 'streaming', callId: 'hung1', seq: 2, at: new Date(T0 + 3_000).toISOString() });
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: arn('h1'), lastStatus: 'RUNNING' }] });
    ecsMock.on(StopTaskCommand).resolves({});
    const { run, metrics } = handler(store, 91);
    expect(await run()).toMatchObject({ closed: { limit: 1 } });
    expect(await store.get('hung1')).toMatchObject({ state: 'ended', ended: { by: 'limit', durationSeconds: 88 } });
    expect(ecsMock.commandCalls(StopTaskCommand).map((call) => call.args[0].input)).toEqual([
      { cluster: CLUSTER, task: arn('h1'), reason: 'call hung1 past its max duration (sweeper)' },
    ]);
    expect(await run()).toMatchObject({ live: 0 });
    expect(metrics.at(-1)).toEqual({ [METRIC.stuckCalls]: 0, [METRIC.liveCalls]: 0 });
  });

  it('a call never launched → failed (launch) without asking ECS', async () => {
    const store = await storeWith([{ callId: 'never1' }]);
    expect(await handler(store, 31).run()).toMatchObject({ closed: { launch: 1 } });
    expect(await store.get('never1')).toMatchObject({ state: 'failed', failure: { reason: 'launch' } });
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
  });
});

describe('sweeper reads of the call table', () => {
  it('lists live calls with a Query on the live index, never a Scan of the table', async () => {
    // The store sends through the document client it wraps around `client`.
    const dynamodb = mockClient(DynamoDBDocumentClient);
    onTestFinished(() => dynamodb.restore());
    dynamodb.on(QueryCommand).resolves({ Items: [] });
    const store = new DynamoDbCallStore({ client: new DynamoDBClient({ region: 'eu-west-1' }), tableName: 'calls' });
    const report = await sweep({
      store,
      inspector: inspector(),
      launcher: { stop: async () => {} },
      logger: silentLogger,
      now: () => new Date(T0),
      policy: { launchGraceMs: 30_000, stoppedGraceMs: 30_000, limitGraceMs: 30_000 },
    });
    expect(report.live).toBe(0);
    const queries = dynamodb.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(queries).toEqual([
      expect.objectContaining({ TableName: 'calls', IndexName: LIVE_INDEX, KeyConditionExpression: '#live = :live' }),
    ]);
    expect(dynamodb.commandCalls(ScanCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
  });
});

/** The API on the real ECS launcher (ecsMock answers RunTask), and a POST of a call to the stream 'shared'. */
function apiOnEcs(options: { capacityWaitMs?: number } = {}) {
  const store = new MemoryCallStore();
  const launcher = new EcsTaskLauncher({
    ecs: new ECSClient({ region: 'eu-west-1' }),
    cipher: { encrypt: async () => 'sealed', decrypt: async () => 'unused' },
    mailbox: { push: async () => {} },
    cluster: CLUSTER,
    taskDefinition: 'td',
    containerName: 'media',
    subnets: ['s'],
    securityGroups: ['g'],
    retry: noWait,
    ...options,
  });
  const app = createApp({ store, launcher, resolveHost: fakeDns(), logger: silentLogger });
  const post = (callId: string) =>
    app.request('/v1/calls', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(spec(callId, 'shared')),
    });
  return { store, post };
}

describe('RunTask throwing after the store write', () => {
  it('the API marks the call failed (launch), answers 503, and the stream key is free for the next call', async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(
        Object.assign(new Error('No Container Instances were found in your cluster.'), {
          name: 'InvalidParameterException',
        }),
      )
      .resolves({ tasks: [{ taskArn: arn('next') }] });
    const { store, post } = apiOnEcs();
    expect((await post('first')).status).toBe(503);
    expect(await store.get('first')).toMatchObject({
      state: 'failed',
      failure: { reason: 'launch', message: expect.stringContaining('RunTask failed') },
    });
    expect((await post('second')).status).toBe(201);
    expect(await store.get('second')).toMatchObject({ state: 'dialing', taskRef: arn('next') });
  });
});

describe('RunTask finding no room', () => {
  it('the API marks the call failed (capacity) once the wait is over, answers 503, and the stream key is free', async () => {
    ecsMock
      .on(RunTaskCommand)
      .resolvesOnce({
        tasks: [],
        failures: [{ reason: "You've reached the limit on the number of vCPUs you can run concurrently" }],
      })
      .resolves({ tasks: [{ taskArn: arn('roomy') }] });
    const { store, post } = apiOnEcs({ capacityWaitMs: 0 });
    const refused = await post('crowded');
    expect(refused.status).toBe(503);
    expect(await store.get('crowded')).toMatchObject({
      state: 'failed',
      failure: { reason: 'capacity', message: expect.stringContaining('limit on the number of vCPUs') },
    });
    expect((await post('later')).status).toBe(201);
    expect(await store.get('later')).toMatchObject({ state: 'dialing', taskRef: arn('roomy') });
  });
});

describe('metrics and config', () => {
  it('prints one EMF line: namespace, the Gateway dimension, counts; nothing when there is nothing to count', () => {
    const lines: string[] = [];
    const sink = emfSink('Gw', (line) => void lines.push(line));
    sink({});
    sink({ [METRIC.stuckCalls]: 2 });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          { Namespace: 'SipRtmpGateway', Dimensions: [['Gateway']], Metrics: [{ Name: 'StuckCalls', Unit: 'Count' }] },
        ],
      },
      Gateway: 'Gw',
      StuckCalls: 2,
    });
    expect(typeof line._aws.Timestamp).toBe('number');
    expect(emfLine('Gw', {}, new Date(T0))).not.toContain('callId');
  });

  it('reads the graces from SWEEP_ENV and the standby pool from STANDBY_ENV, and fails naming a bad one', () => {
    const env = {
      [LAMBDA_ENV.tableName]: 't',
      [LAMBDA_ENV.clusterArn]: CLUSTER,
      [LAMBDA_ENV.taskDefinitionArn]: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/media:1',
      [LAMBDA_ENV.containerName]: 'media',
      [LAMBDA_ENV.subnetIds]: 'subnet-1,subnet-2',
      [LAMBDA_ENV.securityGroupIds]: 'sg-1',
      [LAMBDA_ENV.statusSigningKeySecretArn]: 's',
      [SWEEP_ENV.limitGraceSeconds]: '45',
    };
    expect(readSweeperConfig(env)).toMatchObject({
      gatewayName: 'default',
      subnetIds: ['subnet-1', 'subnet-2'],
      sweep: { policy: { launchGraceMs: 30_000, stoppedGraceMs: 30_000, limitGraceMs: 45_000 } },
      standby: { size: 1, maxIdleMs: 3_600_000 },
    });
    expect(readSweeperConfig({ ...env, [STANDBY_ENV.tasks]: '0' }).standby.size).toBe(0);
    expect(() => readSweeperConfig({ ...env, [STANDBY_ENV.tasks]: 'two' })).toThrow(/STANDBY_TASKS must be/);
    expect(() => readSweeperConfig({ ...env, [STANDBY_ENV.maxIdleSeconds]: '1' })).toThrow(
      /STANDBY_MAX_IDLE_SECONDS must be/,
    );
    expect(() => readSweeperConfig({ ...env, [LAMBDA_ENV.containerName]: '' })).toThrow(/CONTAINER_NAME/);
    expect(() => readSweeperConfig({ ...env, [SWEEP_ENV.launchGraceSeconds]: 'soon' })).toThrow(AwsConfigError);
    expect(() => readSweeperConfig({ ...env, [SWEEP_ENV.launchGraceSeconds]: 'soon' })).toThrow(
      /SWEEP_LAUNCH_GRACE_SECONDS/,
    );
  });
});
