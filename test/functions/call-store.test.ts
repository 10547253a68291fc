import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import type { CallStore } from '../../functions/core/ports.ts';
import { EmbeddedDynamoDb } from '../../functions/local/embedded-dynamodb.ts';
import { startDynalite, startDynamoDbLocal, startEmbedded, type DynamoDbServer } from '../support/dynamodb.ts';
import { callStoreSuite, makeRecord } from './call-store.suite.ts';
import { MemoryCallStore } from './fakes.ts';

let memory: MemoryCallStore;
beforeAll(() => {
  memory = new MemoryCallStore();
});
callStoreSuite('in-memory fake', () => memory);

const backends = [
  ['dynalite', startDynalite],
  ['DynamoDB Local', startDynamoDbLocal],
  ['the embedded store of local mode', startEmbedded],
] as const;

it('the embedded store refuses a data directory too long for its socket, naming DATA_DIR', async () => {
  await expect(EmbeddedDynamoDb.start(join(tmpdir(), 'x'.repeat(100)))).rejects.toThrow(
    /longer than a Unix socket allows.*DATA_DIR/,
  );
});

describe.each(backends)('DynamoDbCallStore on %s', (name, start) => {
  let server: Pick<DynamoDbServer, 'client' | 'close'>;
  let client: DynamoDBClient;
  let store: DynamoDbCallStore;
  const tableName = `calls-${name.replace(/\W/g, '')}`;
  const now = new Date('2026-03-01T00:00:00.000Z');

  beforeAll(async () => {
    server = await start();
    client = server.client();
    store = new DynamoDbCallStore({ client, tableName, retentionSeconds: 3600, now: () => now });
    await store.ensureTable();
    await store.ensureTable(); // idempotent: the local server calls it on every start
  });
  afterAll(async () => {
    await server?.close();
  });

  callStoreSuite(name, () => store as CallStore);

  it('sets the TTL attribute and drops the live marker and the password when a call becomes final', async () => {
    const { record, secret } = makeRecord();
    await store.create(record, secret);
    const raw = async () =>
      (await client.send(new GetItemCommand({ TableName: tableName, Key: { callId: { S: record.callId } } }))).Item;
    expect((await raw())?.live).toEqual({ S: '1' });
    expect((await raw())?.expiresAt).toBeUndefined();
    await store.update({ ...record, state: 'failed', failure: { reason: 'crashed', message: 'x' } }, 1);
    const item = await raw();
    expect(item?.live).toBeUndefined();
    expect(item?.expiresAt).toEqual({ N: String(now.getTime() / 1000 + 3600) });
    expect(item?.secret).toBeUndefined();
    expect(JSON.stringify(item)).not.toContain(secret.sipPassword);
  });
});
