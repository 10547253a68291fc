/**
 * The concurrency limit of API keys through the app, over the store `npm start` keeps (the embedded DynamoDB-API
 * store): parallel POSTs on every start route, and the slot given back by each way a call becomes final.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app/create-app.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import { EmbeddedDynamoDb } from '../../functions/local/embedded-dynamodb.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { sweep } from '../../functions/sweeper.ts';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { silentLogger } from '../../shared/log.ts';
import { makeSpec } from './call-store.suite.ts';
import { FakeLauncher, fakeDns, fixedKeys } from './fakes.ts';

const OPS_KEY = 'ops-key-0123456789abcdef';
const SOLO_KEY = 'solo-key-0123456789abcdef';

let dir: string;
let db: EmbeddedDynamoDb;
let tables = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'key-limits-'));
  db = await EmbeddedDynamoDb.start(join(dir, 'dynamodb'));
});
afterAll(async () => {
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

async function setup() {
  const store = new DynamoDbCallStore({ client: db.client(), tableName: `calls-${++tables}` });
  await store.ensureTable();
  const launcher = new FakeLauncher();
  const app = createApp({
    store,
    launcher,
    resolveHost: fakeDns(),
    logger: silentLogger,
    apiKeys: fixedKeys(
      { name: 'ops', key: OPS_KEY, maxConcurrentCalls: 3 },
      { name: 'solo', key: SOLO_KEY, maxConcurrentCalls: 1 },
    ),
  });
  const request = async (method: string, path: string, key: string, body?: unknown) => {
    const response = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, any> };
  };
  const post = (path: string, callId: string, key: string) =>
    request('POST', path, key, {
      callId,
      callee: '10000',
      rtmpUrl: 'rtmp://127.0.0.1:1935/live',
      rtmpStream: callId,
      connection: { sipLogin: '10000', sipPassword: 'pw', sipDomain: '127.0.0.1' },
    });
  return { store, launcher, request, post };
}

describe('API key concurrency limit, through the app on the embedded store', () => {
  it('accepts exactly 3 of 20 parallel POSTs of a key limited to 3, on every start route; the rest get 429 and leave nothing', async () => {
    const { store, launcher, post } = await setup();
    const routes = ['/v1/calls', '/RESTCall/call', '/rest-api/call/startup'];
    const ids = Array.from({ length: 20 }, (_, i) => `par-${i}`);
    const answers = await Promise.all(ids.map((id, i) => post(routes[i % routes.length]!, id, OPS_KEY)));
    const accepted = ids.filter((_, i) => answers[i]!.status !== 429);
    expect(accepted).toHaveLength(3);
    for (const [i, answer] of answers.entries()) {
      if (answer.status === 429)
        expect(answer.json).toEqual({
          error: { code: 'concurrency_limit', message: 'key "ops" allows 3 concurrent calls', limit: 3 },
        });
      else {
        expect(answer.status).toBe(routes[i % routes.length] === '/v1/calls' ? 201 : 200);
        expect(answer.json).toMatchObject({ callId: ids[i], keyName: 'ops', state: 'dialing' });
      }
    }
    const stored = await store.list();
    expect(stored.map((r) => r.callId).sort()).toEqual([...accepted].sort());
    expect(stored.every((r) => r.keyName === 'ops')).toBe(true);
    expect(launcher.launches.map((l) => l.spec.callId).sort()).toEqual([...accepted].sort());
  });

  it('gives the slot back whichever way the call ends: its task, the sweeper, a crash, a failed launch, a DELETE before any task', async () => {
    const { store, launcher, request, post } = await setup();
    const at = () => new Date().toISOString();
    const refused = async (callId: string) => {
      expect((await post('/v1/calls', callId, SOLO_KEY)).status).toBe(429);
      expect(await store.get(callId)).toBeUndefined();
    };

    expect((await post('/v1/calls', 'by-task', SOLO_KEY)).status).toBe(201);
    await refused('waiting-1');
    // The task's own final event.
    await recordEvent(store, {
      type: 'ended',
      by: 'remote',
      reason: 'BYE',
      durationSeconds: 1,
      callId: 'by-task',
      seq: 1,
      at: at(),
    });

    expect((await post('/v1/calls', 'by-sweeper', SOLO_KEY)).status).toBe(201);
    await refused('waiting-2');
    // The platform lost the task: the sweeper closes the call.
    const report = await sweep({
      store,
      inspector: { inspect: async (refs) => new Map(refs.map((ref) => [ref, { status: 'missing' as const }])) },
      launcher,
      policy: { launchGraceMs: 0, stoppedGraceMs: 0, limitGraceMs: 0 },
      logger: silentLogger,
      now: () => new Date(Date.now() + 1_000),
    });
    expect(report.closed.crashed).toBe(1);
    expect(await store.get('by-sweeper')).toMatchObject({ state: 'failed' });

    expect((await post('/v1/calls', 'by-crash', SOLO_KEY)).status).toBe(201);
    await refused('waiting-3');
    // The local launcher saw the task die without a final event.
    await recordEvent(store, { type: 'task-crashed', callId: 'by-crash', at: at(), message: 'exit 1' });

    launcher.failLaunch = true;
    expect((await post('/v1/calls', 'launch-fails', SOLO_KEY)).status).toBe(503);
    launcher.failLaunch = false;
    expect(await store.get('launch-fails')).toMatchObject({ state: 'failed', keyName: 'solo' });

    // Stored with its slot, its launch still in flight: a DELETE ends it at once.
    const { record, secret } = newCallRecord(makeSpec({ callId: 'no-task-yet' }), at());
    expect(await store.create({ ...record, keyName: 'solo' }, secret, { keyLimit: 1 })).toBe('created');
    await refused('waiting-4');
    expect(await request('DELETE', '/v1/calls/no-task-yet', SOLO_KEY)).toMatchObject({
      status: 202,
      json: { state: 'ended' },
    });

    expect((await post('/v1/calls', 'last', SOLO_KEY)).status).toBe(201);
    expect(launcher.launches.map((l) => l.spec.callId)).toEqual([
      'by-task',
      'by-sweeper',
      'by-crash',
      'launch-fails',
      'last',
    ]);
  });
});
