/**
 * The standby pool as the API uses it (CallService over the pool, functions/standby-pool.ts) and as the sweeper
 * tends it, over the real registry adapter on dynalite, with a launcher that records what it was asked.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CallService } from '../../functions/app/call-service.ts';
import type { ObservedTask } from '../../functions/core/call-sweep.ts';
import { StandbyPool, type StandbyLauncher } from '../../functions/standby-pool.ts';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { DynamoDbStandbyRegistry, STANDBY_POOL_KEY } from '../../shared/aws/dynamodb-standby-registry.ts';
import { LaunchError } from '../../shared/call-errors.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import { silentLogger } from '../../shared/log.ts';
import { startDynalite, type DynamoDbServer } from '../support/dynamodb.ts';
import { makeSpec } from './call-store.suite.ts';
import { FakeLauncher, fakeDns, MemoryCallStore } from './fakes.ts';

class FakeStandbyLauncher implements StandbyLauncher {
  readonly handedOver: Array<{ taskRef: string; callId: string; recordTaskRef?: string }> = [];
  readonly stopped: string[] = [];
  readonly gone = new Set<string>();
  private next = 1;
  constructor(private readonly store: MemoryCallStore) {}
  async seal() {
    return undefined;
  }
  async startStandby() {
    return `standby-${this.next++}`;
  }
  async handOver(taskRef: string, spec: CallSpec) {
    if (this.gone.has(taskRef)) throw new LaunchError(`standby task ${taskRef} is gone`);
    // What the record said when the task got its call: it must name the task already.
    this.handedOver.push({ taskRef, callId: spec.callId, recordTaskRef: (await this.store.get(spec.callId))?.taskRef });
  }
  async stopStandby(taskRef: string) {
    this.stopped.push(taskRef);
  }
  async booted() {}
}

let server: DynamoDbServer;
let registry: DynamoDbStandbyRegistry;
let store: MemoryCallStore;
let tasks: FakeStandbyLauncher;
let launcher: FakeLauncher;
let observed: Map<string, ObservedTask>;
let now: Date;

beforeAll(async () => {
  server = await startDynalite();
  await new DynamoDbCallStore({ client: server.client(), tableName: 'calls' }).ensureTable();
  registry = new DynamoDbStandbyRegistry({ client: server.client(), tableName: 'calls' });
});
afterAll(async () => {
  await server?.close();
});
beforeEach(async () => {
  await DynamoDBDocumentClient.from(server.client()).send(
    new DeleteCommand({ TableName: 'calls', Key: { callId: STANDBY_POOL_KEY } }),
  );
  store = new MemoryCallStore();
  tasks = new FakeStandbyLauncher(store);
  launcher = new FakeLauncher();
  observed = new Map();
  now = new Date('2026-12-05T12:00:00.000Z');
});

function makePool(size = 2) {
  return new StandbyPool({
    registry,
    launcher: tasks,
    inspector: {
      inspect: async (refs) => new Map(refs.map((ref) => [ref, observed.get(ref) ?? { status: 'running' }])),
    },
    policy: { size, maxIdleMs: 3_600_000, startGraceMs: 300_000, handOverGraceMs: 60_000 },
    logger: silentLogger,
    now: () => now,
  });
}

function makeService(pool: StandbyPool) {
  return new CallService({
    store,
    launcher,
    standby: pool,
    resolveHost: fakeDns(),
    logger: silentLogger,
    now: () => now,
  });
}

/** Fills the pool and marks its tasks ready, as their ready lines would. */
async function filled(pool: StandbyPool): Promise<string[]> {
  await pool.refill();
  const refs = (await registry.list()).map((entry) => entry.taskRef);
  for (const ref of refs) await pool.ready(ref);
  return refs;
}

const states = async () => Object.fromEntries((await registry.list()).map((e) => [e.taskRef, e.state]));

describe('StandbyPool with CallService', () => {
  it('gives a new call an idle task only after its record names the task, and refills the pool', async () => {
    const pool = makePool();
    await filled(pool);
    const { created, record } = await makeService(pool).start(makeSpec({ callId: 'c1' }));
    expect(created).toBe(true);
    const taskRef = record.taskRef!;
    expect(['standby-1', 'standby-2']).toContain(taskRef);
    expect(tasks.handedOver).toEqual([{ taskRef, callId: 'c1', recordTaskRef: taskRef }]);
    expect(launcher.launches).toEqual([]);
    await pool.settled();
    // The claimed task is assigned; a third task was started to keep two waiting.
    expect(await states()).toMatchObject({ [taskRef]: 'assigned', 'standby-3': 'starting' });
  });

  it('launches a task when none is idle, and when the claimed one is gone by the handover', async () => {
    const pool = makePool(1);
    const noneIdle = await makeService(pool).start(makeSpec({ callId: 'c2' }));
    expect(noneIdle.record.taskRef).toBe('task-c2');

    await pool.settled();
    const [ref] = await filled(pool);
    tasks.gone.add(ref!);
    const goneTask = await makeService(pool).start(makeSpec({ callId: 'c3', rtmpStream: 'other' }));
    // The launched task replaces the dead one in the record.
    expect(goneTask.record.taskRef).toBe('task-c3');
    expect((await store.get('c3'))?.taskRef).toBe('task-c3');
    expect(launcher.launches.map((l) => (l.op === 'launch' ? l.spec.callId : ''))).toEqual(['c2', 'c3']);
  });

  it('gives the task back when the call is not new: a retried request, or a stream key in use', async () => {
    const pool = makePool(1);
    const [ref] = await filled(pool);
    const service = makeService(pool);
    const first = await service.start(makeSpec({ callId: 'c4', rtmpStream: 's4' }));
    expect(first.record.taskRef).toBe(ref);
    await pool.settled();
    const [second] = (await registry.list()).filter((e) => e.state === 'starting').map((e) => e.taskRef);
    await pool.ready(second!);

    const retry = await service.start(makeSpec({ callId: 'c4', rtmpStream: 's4' }));
    expect(retry.created).toBe(false);
    expect((await states())[second!]).toBe('idle');
    await expect(service.start(makeSpec({ callId: 'c5', rtmpStream: 's4' }))).rejects.toThrow(/stream/i);
    expect((await states())[second!]).toBe('idle');
    expect(tasks.handedOver.map((h) => h.callId)).toEqual(['c4']);
  });
});

describe('StandbyPool refills', () => {
  it('locally waits for a pause in claims before it starts a task', async () => {
    const slept: number[] = [];
    const pool = new StandbyPool({
      registry,
      launcher: tasks,
      inspector: { inspect: async (refs) => new Map(refs.map((ref) => [ref, { status: 'running' } as ObservedTask])) },
      policy: { size: 1, maxIdleMs: 3_600_000, startGraceMs: 300_000, handOverGraceMs: 60_000 },
      logger: silentLogger,
      now: () => now,
      refillQuietMs: 1_000,
      sleep: async (ms) => {
        slept.push(ms);
        now = new Date(now.getTime() + ms);
      },
    });
    // No claim yet: nothing to wait for.
    await pool.refill();
    expect(slept).toEqual([]);
    const [ref] = (await registry.list()).map((e) => e.taskRef);
    await pool.ready(ref!);
    // A claim just now: the refill it causes waits for the quiet period first.
    expect(await pool.claim('c8')).toBe(ref);
    await pool.refill();
    expect(slept).toEqual([1_000]);
    expect(await states()).toMatchObject({ [ref!]: 'claimed', 'standby-2': 'starting' });
  });
});

describe('StandbyPool keeper rounds', () => {
  it('recycles an idle task past its time and starts its replacement', async () => {
    const pool = makePool(1);
    const [old] = await filled(pool);
    now = new Date(now.getTime() + 3_600_001);
    expect(await pool.tend()).toEqual({ idle: 0, recycled: 1, dropped: 0, launched: 1 });
    expect(tasks.stopped).toEqual([old]);
    expect(await states()).toEqual({ 'standby-2': 'starting' });
  });

  it('does not stop a task that a call claimed while the round ran: the claim wins', async () => {
    const pool = makePool(1);
    const [ref] = await filled(pool);
    observed.set(ref!, { status: 'running' });
    now = new Date(now.getTime() + 3_600_001);
    // The claim lands between the round's listing and its withdrawal.
    const inspect = {
      inspect: async (refs: readonly string[]) => {
        await registry.claim('c6', now.toISOString());
        return new Map(refs.map((r) => [r, { status: 'running' } as ObservedTask]));
      },
    };
    const racing = new StandbyPool({
      registry,
      launcher: tasks,
      inspector: inspect,
      policy: { size: 1, maxIdleMs: 3_600_000, startGraceMs: 300_000, handOverGraceMs: 60_000 },
      logger: silentLogger,
      now: () => now,
    });
    const round = await racing.tend();
    expect(round.recycled).toBe(0);
    expect(tasks.stopped).toEqual([]);
    expect((await states())[ref!]).toBe('claimed');
  });

  it('stops a task that says it is ready but is no longer listed, and leaves the pool empty after close', async () => {
    const pool = makePool(2);
    const [a, b] = await filled(pool);
    await registry.remove(a!);
    await pool.ready(a!);
    expect(tasks.stopped).toEqual([a]);
    await pool.close();
    expect(tasks.stopped).toEqual([a, b]);
    expect(await registry.list()).toEqual([]);
    await pool.refill();
    expect(await pool.claim('c7')).toBeUndefined();
    expect(await registry.list()).toEqual([]);
  });
});
