/**
 * Stuck calls end and free their stream key: a DELETE of a call that has no task, a launch that throws after
 * the store write, and the sweeper (functions/sweeper.ts) for what nobody closed. Over the in-memory fake and
 * over dynalite (the live calls then come from the live index, as on AWS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { createApp } from '../../functions/app/create-app.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { ObservedTask, SweepPolicy } from '../../functions/core/call-sweep.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import type { CallStore, TaskInspector } from '../../functions/core/ports.ts';
import { recordEvent, type RecordResult } from '../../functions/recorder.ts';
import { sweep } from '../../functions/sweeper.ts';
import { silentLogger } from '../../shared/log.ts';
import { startDynalite, type DynamoDbServer } from '../support/dynamodb.ts';
import { FakeLauncher, MemoryCallStore, fakeDns } from './fakes.ts';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const policy: SweepPolicy = { launchGraceMs: 30_000, stoppedGraceMs: 30_000, limitGraceMs: 30_000 };

function spec(callId: string, overrides: Partial<CallSpec> = {}): CallSpec {
  return {
    callId,
    callee: '10000',
    rtmpUrl: 'rtmp://203.0.113.1/live',
    rtmpStream: 'stream-1',
    hasAudio: true,
    hasVideo: false,
    maxDurationSeconds: 60,
    rtpTimeoutSeconds: 30,
    connection: {
      sipLogin: '1',
      sipPassword: 'pw',
      sipAuthenticationName: '1',
      sipDomain: '203.0.113.2',
      sipPort: 5060,
      sipRegisterRequired: false,
      transport: 'udp',
    },
    ...overrides,
  };
}

function body(callId: string) {
  const { connection, ...rest } = spec(callId);
  return { ...rest, connection };
}

/** What the API would have stored before it died: the record, no launch. */
async function storeOnly(
  store: CallStore,
  callId: string,
  atMs: number,
  extra: Partial<ReturnType<typeof newCallRecord>['record']> = {},
) {
  const { record, secret } = newCallRecord(spec(callId), new Date(atMs).toISOString());
  expect(await store.create({ ...record, ...extra }, secret)).toBe('created');
}

class FakeInspector implements TaskInspector {
  readonly tasks = new Map<string, ObservedTask>();
  readonly asked: string[][] = [];
  async inspect(refs: readonly string[]) {
    this.asked.push([...refs]);
    return new Map(refs.map((ref) => [ref, this.tasks.get(ref) ?? { status: 'missing' as const }]));
  }
}

let dynalite: DynamoDbServer;
beforeAll(async () => {
  dynalite = await startDynalite();
});
afterAll(async () => {
  await dynalite?.close();
});

let tables = 0;
const stores: [string, () => Promise<CallStore>][] = [
  ['the in-memory fake', async () => new MemoryCallStore()],
  [
    'dynalite',
    async () => {
      const store = new DynamoDbCallStore({ client: dynalite.client(), tableName: `sweep-${++tables}` });
      await store.ensureTable();
      return store;
    },
  ],
];

describe.each(stores)('stuck calls on %s', (_name, makeStore) => {
  function app(store: CallStore, launcher = new FakeLauncher()) {
    const api = createApp({ store, launcher, resolveHost: fakeDns(), logger: silentLogger });
    const request = async (method: string, path: string, json?: unknown) => {
      const response = await api.request(path, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(json ? { body: JSON.stringify(json) } : {}),
      });
      return { status: response.status, json: (await response.json()) as any };
    };
    return { request, launcher };
  }

  it('a call stored but never launched: DELETE ends it at once (local), and a new call to its stream is accepted', async () => {
    const store = await makeStore();
    await storeOnly(store, 'never1', Date.now());
    const { request, launcher } = app(store);
    // The retry the client makes finds it, dialing with no task.
    expect(await request('POST', '/v1/calls', body('never1'))).toMatchObject({
      status: 200,
      json: { state: 'dialing' },
    });
    expect(launcher.launches).toHaveLength(0);

    const deleted = await request('DELETE', '/v1/calls/never1');
    expect(deleted).toMatchObject({
      status: 202,
      json: { state: 'ended', ended: { by: 'local', durationSeconds: 0 } },
    });
    expect(await store.get('never1')).toMatchObject({ state: 'ended', desired: 'ended' });
    expect(await request('POST', '/v1/calls', body('next1'))).toMatchObject({ status: 201 });
  });

  it('RunTask throwing after the store write: the start marks the call failed (launch) and frees the key', async () => {
    const store = await makeStore();
    const { request, launcher } = app(store);
    launcher.failLaunch = true;
    expect((await request('POST', '/v1/calls', body('nolaunch1'))).status).toBe(503);
    expect(await store.get('nolaunch1')).toMatchObject({
      state: 'failed',
      failure: { reason: 'launch', message: 'no capacity' },
    });
    launcher.failLaunch = false;
    expect(await request('POST', '/v1/calls', body('nolaunch2'))).toMatchObject({ status: 201 });
  });

  it('the sweeper closes a call whose launch was never recorded (failed / launch) after the grace, and frees its key', async () => {
    const store = await makeStore();
    await storeOnly(store, 'lost1', T0);
    const inspector = new FakeInspector();
    const launcher = new FakeLauncher();
    const closed: RecordResult[] = [];
    const run = (seconds: number) =>
      sweep({
        store,
        inspector,
        launcher,
        policy,
        logger: silentLogger,
        now: () => new Date(T0 + seconds * 1000),
        onClosed: async (result) => void closed.push(result),
      });

    expect(await run(29)).toMatchObject({ live: 1, closed: { launch: 0 } });
    expect((await store.get('lost1'))?.state).toBe('dialing');
    expect(await run(31)).toMatchObject({ live: 1, closed: { launch: 1 }, errors: 0 });
    expect(await store.get('lost1')).toMatchObject({ state: 'failed', failure: { reason: 'launch' } });
    expect(closed.map((result) => result.effects)).toEqual([
      [{ type: 'state-changed', from: 'dialing', to: 'failed' }],
    ]);
    expect(inspector.asked).toEqual([]); // no task to ask about
    expect(launcher.calls).toEqual([]);
    expect(await run(100)).toMatchObject({ live: 0 });
    await storeOnly(store, 'lost2', T0 + 100_000);
  });

  it('the sweeper: a lost STOPPED event → failed (crashed); a hung task past its limit → stopped, ended (limit)', async () => {
    const store = await makeStore();
    await storeOnly(store, 'crash1', T0, { taskRef: 'task-crash1', streamKey: 'k-crash1' });
    await storeOnly(store, 'hung1', T0, { taskRef: 'task-hung1', streamKey: 'k-hung1' });
    await storeOnly(store, 'fine1', T0, {
      taskRef: 'task-fine1',
      streamKey: 'k-fine1',
      spec: { ...newCallRecord(spec('fine1'), '').record.spec, maxDurationSeconds: 3600 },
    });
    await recordEvent(store, { type: 'streaming', callId: 'hung1', seq: 3, at: new Date(T0 + 2000).toISOString() });
    const inspector = new FakeInspector();
    inspector.tasks.set('task-crash1', {
      status: 'stopped',
      stoppedAt: new Date(T0 + 10_000).toISOString(),
      reason: 'Task stopped by user',
    });
    inspector.tasks.set('task-hung1', { status: 'running' });
    inspector.tasks.set('task-fine1', { status: 'running' });
    const launcher = new FakeLauncher();
    const report = await sweep({
      store,
      inspector,
      launcher,
      policy,
      logger: silentLogger,
      now: () => new Date(T0 + 91_000),
    });

    expect(report).toMatchObject({ live: 3, closed: { crashed: 1, limit: 1, launch: 0, 'hung-up': 0 }, errors: 0 });
    expect(inspector.asked.map((refs) => [...refs].sort())).toEqual([['task-crash1', 'task-fine1', 'task-hung1']]);
    expect(await store.get('crash1')).toMatchObject({
      state: 'failed',
      failure: { reason: 'crashed', message: expect.stringContaining('Task stopped by user') },
    });
    expect(await store.get('hung1')).toMatchObject({ state: 'ended', ended: { by: 'limit', durationSeconds: 89 } });
    expect(await store.get('fine1')).toMatchObject({ state: 'dialing' });
    expect(launcher.calls).toEqual([{ op: 'stop', callId: 'hung1', taskRef: 'task-hung1' }]);
  });

  it('the sweeper: a stop that fails is counted and logged; the call stays ended (limit), the others are still closed', async () => {
    const store = await makeStore();
    await storeOnly(store, 'hung2', T0, { taskRef: 'task-hung2', streamKey: 'k-hung2' });
    await storeOnly(store, 'hung3', T0, { taskRef: 'task-hung3', streamKey: 'k-hung3' });
    const inspector = new FakeInspector();
    inspector.tasks.set('task-hung2', { status: 'running' });
    inspector.tasks.set('task-hung3', { status: 'running' });
    const stopped: string[] = [];
    const launcher = {
      stop: async (callId: string) => {
        if (callId === 'hung2') throw new Error('StopTask failed: throttled');
        stopped.push(callId);
      },
    };
    const report = await sweep({
      store,
      inspector,
      launcher,
      policy,
      logger: silentLogger,
      now: () => new Date(T0 + 91_000),
    });
    expect(report).toMatchObject({ closed: { limit: 2 }, errors: 1 });
    expect(stopped).toEqual(['hung3']);
    expect(await store.get('hung2')).toMatchObject({ state: 'ended', ended: { by: 'limit' } });
  });
});
