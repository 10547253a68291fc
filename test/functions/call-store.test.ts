import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import type { CallStore } from '../../functions/core/ports.ts';
import { EmbeddedDynamoDb } from '../../functions/local/embedded-dynamodb.ts';
import { startDynalite, startDynamoDbLocal, startEmbedded, type DynamoDbServer } from '../support/dynamodb.ts';
import { ConcurrencyLimitError } from '../../shared/call-errors.ts';
import { callStoreSuite, keyedRecord, makeRecord, uniqueKeyName } from './call-store.suite.ts';
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

  const holders = async (keyName: string) => {
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { callId: { S: `limit#${keyName}` } }, ConsistentRead: true }),
    );
    return Object.keys(Item?.holders?.M ?? {}).sort();
  };

  it('takes over the slot of a call that became final without giving it back (its writer died between)', async () => {
    const keyName = uniqueKeyName();
    const first = keyedRecord(keyName);
    await store.create(first.record, first.secret, { keyLimit: 1 });
    expect(await holders(keyName)).toEqual([first.record.callId]);
    // The final write alone, as a writer that died before the release leaves it.
    await client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { callId: { S: first.record.callId } },
        UpdateExpression: 'SET #state = :ended REMOVE #live',
        ExpressionAttributeNames: { '#state': 'state', '#live': 'live' },
        ExpressionAttributeValues: { ':ended': { S: 'ended' } },
      }),
    );
    const second = keyedRecord(keyName);
    expect(await store.create(second.record, second.secret, { keyLimit: 1 })).toBe('created');
    expect(await holders(keyName)).toEqual([second.record.callId]);
  });

  it('takes over the slot of a call that never got its record, once that is older than a create can take', async () => {
    const keyName = uniqueKeyName();
    const ghost = (takenAt: string) =>
      client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            callId: { S: `limit#${keyName}` },
            kind: { S: 'limit' },
            holders: { M: { 'crashed-create': { S: takenAt } } },
          },
        }),
      );
    const call = keyedRecord(keyName);
    // Taken a moment ago: may be a create in flight, so it still counts.
    await ghost(new Date(now.getTime() - 1_000).toISOString());
    await expect(store.create(call.record, call.secret, { keyLimit: 1 })).rejects.toBeInstanceOf(ConcurrencyLimitError);
    expect(await store.get(call.record.callId)).toBeUndefined();
    await ghost(new Date(now.getTime() - 60_000).toISOString());
    expect(await store.create(call.record, call.secret, { keyLimit: 1 })).toBe('created');
    expect(await holders(keyName)).toEqual([call.record.callId]);
  });
});
