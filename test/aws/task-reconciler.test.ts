import { readFileSync } from 'node:fs';
import type { EventBridgeEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createReconcilerHandler, type EcsTaskStateChange } from '../../functions/aws/task-reconciler.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import { LIST_PRICES } from '../../functions/core/call-usage.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { silentLogger } from '../../shared/log.ts';
import { MemoryCallStore } from '../functions/fakes.ts';

type TaskEvent = EventBridgeEvent<'ECS Task State Change', EcsTaskStateChange>;
const stopped = JSON.parse(
  readFileSync(new URL('../fixtures/aws/ecs-task-state-change-stopped.json', import.meta.url), 'utf8'),
) as TaskEvent;
const TASK_ARN = stopped.detail.taskArn;
const CALL = 'fixture-call-1';
const at = '2026-11-23T18:05:00.000Z';
// These calls ask for no callbacks; lambda-handlers.test.ts delivers the reconciler's through a real receiver.
const SIGNING_KEY = 'reconciler-test-signing-key';

const withDetail = (detail: Partial<EcsTaskStateChange>): TaskEvent => ({
  ...stopped,
  detail: { ...stopped.detail, ...detail },
});
const exitedCleanly = withDetail({
  containers: [{ name: 'media', exitCode: 0 }],
  stopCode: 'EssentialContainerExited',
});

async function storeWithCall(prepare: (store: MemoryCallStore) => Promise<void> = async () => {}) {
  const store = new MemoryCallStore();
  const spec = {
    callId: CALL,
    callee: '1',
    rtmpUrl: 'rtmp://203.0.113.1/live',
    rtmpStream: 's',
    hasAudio: true,
    hasVideo: false,
    maxDurationSeconds: 60,
    rtpTimeoutSeconds: 30,
    connection: {
      sipLogin: '1',
      sipPassword: 'p',
      sipAuthenticationName: '1',
      sipDomain: 'sip.example.net',
      sipPort: 5060,
      sipRegisterRequired: false,
      transport: 'udp',
    },
  } satisfies CallSpec;
  const { record, secret } = newCallRecord(spec, at);
  await store.create({ ...record, taskRef: TASK_ARN }, secret);
  await prepare(store);
  return store;
}

const streaming = async (store: MemoryCallStore) =>
  void (await recordEvent(store, { type: 'streaming', callId: CALL, seq: 4, at: '2026-11-23T18:05:30.000Z' }));

describe('reconciler: ECS task stopped', () => {
  it.each<[string, TaskEvent, (store: MemoryCallStore) => Promise<void>, string, Record<string, unknown>]>([
    [
      'OOM-killed mid-call → failed/crashed with the stop reason',
      stopped,
      streaming,
      'marked-failed',
      {
        state: 'failed',
        failure: {
          reason: 'crashed',
          message:
            'media task stopped without a final state: Essential container in task exited (EssentialContainerExited, exit code 137, OutOfMemoryError: Container killed due to memory usage)',
        },
      },
    ],
    [
      'image pull failed before the first event → failed',
      withDetail({
        containers: [{ name: 'media', reason: 'CannotPullContainerError: pull access denied' }],
        stopCode: 'TaskFailedToStart',
        stoppedReason: 'CannotPullContainerError',
      }),
      async () => {},
      'marked-failed',
      {
        state: 'failed',
        failure: {
          reason: 'crashed',
          message: expect.stringContaining('CannotPullContainerError: pull access denied'),
        },
      },
    ],
    [
      'hang-up StopTask hit the task before it reported → ended by local',
      withDetail({
        containers: [{ name: 'media' }],
        stopCode: 'UserInitiated',
        stoppedReason: 'hang-up requested for call fixture-call-1',
      }),
      async (store) => void (await recordEvent(store, { type: 'hangup-requested', callId: CALL, at })),
      'marked-ended',
      { state: 'ended', ended: { by: 'local', reason: expect.stringContaining('UserInitiated'), durationSeconds: 0 } },
    ],
    [
      'the task reported its final state first → untouched',
      stopped,
      async (store) =>
        void (await recordEvent(store, {
          type: 'ended',
          by: 'remote',
          reason: 'BYE',
          durationSeconds: 9,
          callId: CALL,
          seq: 5,
          at,
        })),
      'already-final',
      { state: 'ended', ended: { by: 'remote', reason: 'BYE', durationSeconds: 9 } },
    ],
    [
      'a stale event about an earlier task of the same callId → untouched',
      withDetail({ taskArn: `${TASK_ARN}-old` }),
      streaming,
      'other-task',
      { state: 'streaming' },
    ],
    [
      'RUNNING, not STOPPED → ignored',
      withDetail({ lastStatus: 'RUNNING' }),
      streaming,
      'not-stopped',
      { state: 'streaming' },
    ],
  ])('%s', async (_name, event, prepare, outcome, expected) => {
    const store = await storeWithCall(prepare);
    const handler = createReconcilerHandler({
      store,
      logger: silentLogger,
      statusSigningKey: SIGNING_KEY,
      pricing: LIST_PRICES,
      finalEventGraceMs: 0,
    });
    expect(await handler(event)).toBe(outcome);
    expect(await store.get(CALL)).toMatchObject(expected);
  });

  it('ignores tasks it did not start and calls it does not know', async () => {
    const store = await storeWithCall();
    const handler = createReconcilerHandler({
      store,
      logger: silentLogger,
      statusSigningKey: SIGNING_KEY,
      pricing: LIST_PRICES,
      finalEventGraceMs: 0,
    });
    expect(await handler(withDetail({ startedBy: undefined }))).toBe('not-ours');
    expect(await handler(withDetail({ startedBy: 'other-call' }))).toBe('unknown-call');
  });

  it('gives a cleanly exited task grace for its final event, which arrives through the other rule', async () => {
    const store = await storeWithCall(streaming);
    const waited: number[] = [];
    const handler = createReconcilerHandler({
      store,
      logger: silentLogger,
      statusSigningKey: SIGNING_KEY,
      pricing: LIST_PRICES,
      finalEventGraceMs: 5_000,
      sleep: async (ms) => {
        waited.push(ms);
        await recordEvent(store, {
          type: 'ended',
          by: 'remote',
          reason: 'BYE',
          durationSeconds: 20,
          callId: CALL,
          seq: 5,
          at,
        });
      },
    });
    expect(await handler(exitedCleanly)).toBe('already-final');
    expect(waited).toEqual([5_000]);
    expect(await store.get(CALL)).toMatchObject({ state: 'ended', ended: { by: 'remote' } });
  });

  it('marks a cleanly exited task failed when its final event never lands', async () => {
    const store = await storeWithCall(streaming);
    const handler = createReconcilerHandler({
      store,
      logger: silentLogger,
      statusSigningKey: SIGNING_KEY,
      pricing: LIST_PRICES,
      finalEventGraceMs: 5_000,
      sleep: async () => {},
    });
    expect(await handler(exitedCleanly)).toBe('marked-failed');
    expect(await store.get(CALL)).toMatchObject({
      state: 'failed',
      failure: { reason: 'crashed', message: expect.stringContaining('exit code 0') },
    });
  });
});
