import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { DynamoDbStandbyRegistry, STANDBY_POOL_KEY } from '../../shared/aws/dynamodb-standby-registry.ts';
import { startDynamoDbLocal, startEmbedded, type DynamoDbServer } from '../support/dynamodb.ts';

const backends = [
  ['DynamoDB Local', startDynamoDbLocal],
  ['the embedded store of local mode', startEmbedded],
] as const;

const AT = '2026-12-05T10:00:00.000Z';
// Task refs as both launchers make them: an ECS ARN's `:` and `/` must survive as map keys.
const arn = (i: number) => `arn:aws:ecs:eu-west-1:123456789012:task/gateway/${i.toString(16).padStart(32, '0')}`;

describe.each(backends)('DynamoDbStandbyRegistry on %s', (_name, start) => {
  let server: Pick<DynamoDbServer, 'client' | 'close'>;
  let registry: DynamoDbStandbyRegistry;
  const tableName = 'calls';

  beforeAll(async () => {
    server = await start();
    await new DynamoDbCallStore({ client: server.client(), tableName }).ensureTable();
    registry = new DynamoDbStandbyRegistry({ client: server.client(), tableName });
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(async () => {
    await DynamoDBDocumentClient.from(server.client()).send(
      new DeleteCommand({ TableName: tableName, Key: { callId: STANDBY_POOL_KEY } }),
    );
  });

  const addIdle = async (refs: string[]) => {
    for (const ref of refs) {
      await registry.add(ref, AT);
      expect(await registry.markIdle(ref, AT)).toBe(true);
    }
  };

  it('moves an entry starting → idle → claimed → assigned, each move once', async () => {
    await registry.add('local:101', AT);
    expect(await registry.get('local:101')).toEqual({ taskRef: 'local:101', state: 'starting', since: AT });
    expect(await registry.claim('call-a', AT)).toBeUndefined();
    expect(await registry.markIdle('local:101', '2026-12-05T10:00:01.000Z')).toBe(true);
    expect(await registry.markIdle('local:101', AT)).toBe(false);
    expect(await registry.claim('call-a', '2026-12-05T10:00:02.000Z')).toBe('local:101');
    expect(await registry.get('local:101')).toEqual({
      taskRef: 'local:101',
      state: 'claimed',
      since: '2026-12-05T10:00:02.000Z',
      callId: 'call-a',
    });
    expect(await registry.claim('call-b', AT)).toBeUndefined();
    expect(await registry.withdraw('local:101')).toBe(false);
    expect(await registry.assign('local:101', 'call-b', AT)).toBe(false);
    expect(await registry.assign('local:101', 'call-a', AT)).toBe(true);
    expect(await registry.assign('local:101', 'call-a', AT)).toBe(false);
    expect((await registry.get('local:101'))?.state).toBe('assigned');
    await registry.remove('local:101');
    expect(await registry.list()).toEqual([]);
  });

  it('releases a claim back to idle, for the same call only, and the task can be claimed again', async () => {
    await addIdle(['local:104']);
    expect(await registry.claim('call-d', AT)).toBe('local:104');
    expect(await registry.release('local:104', 'call-e', AT)).toBe(false);
    expect(await registry.release('local:104', 'call-d', AT)).toBe(true);
    expect(await registry.get('local:104')).toEqual({ taskRef: 'local:104', state: 'idle', since: AT });
    expect(await registry.release('local:104', 'call-d', AT)).toBe(false);
    expect(await registry.claim('call-e', AT)).toBe('local:104');
  });

  it('does not mark idle a task the pool no longer lists', async () => {
    expect(await registry.markIdle('local:102', AT)).toBe(false);
    await registry.add('local:102', AT);
    await registry.remove('local:102');
    expect(await registry.markIdle('local:102', AT)).toBe(false);
    expect(await registry.list()).toEqual([]);
  });

  it('withdraws an idle task so that no claim can take it afterwards', async () => {
    await addIdle(['local:103']);
    expect(await registry.withdraw('local:103')).toBe(true);
    expect(await registry.withdraw('local:103')).toBe(false);
    expect(await registry.claim('call-c', AT)).toBeUndefined();
  });

  it('keeps every entry when 20 tasks are added at once to a pool that does not exist yet', async () => {
    const refs = Array.from({ length: 20 }, (_, i) => arn(i));
    await Promise.all(refs.map((ref) => registry.add(ref, AT)));
    expect((await registry.list()).map((entry) => entry.taskRef).sort()).toEqual([...refs].sort());
  });

  it('gives each of 10 idle tasks to exactly one of 50 concurrent claims, and no call two tasks', async () => {
    const refs = Array.from({ length: 10 }, (_, i) => arn(i));
    await addIdle(refs);
    const callIds = Array.from({ length: 50 }, (_, i) => `call-${i}`);
    const won = await Promise.all(callIds.map((callId) => registry.claim(callId, AT)));
    const claims = callIds.map((callId, i) => [callId, won[i]] as const).filter(([, ref]) => ref !== undefined);
    expect(claims).toHaveLength(10);
    expect(new Set(claims.map(([, ref]) => ref)).size).toBe(10);
    // What the pool holds agrees with what each claim was told.
    const entries = await registry.list();
    expect(entries.every((entry) => entry.state === 'claimed')).toBe(true);
    expect(new Map(entries.map((entry) => [entry.taskRef, entry.callId]))).toEqual(
      new Map(claims.map(([callId, ref]) => [ref, callId])),
    );
  });

  it('lets 50 concurrent claims race a withdrawal of each task: a task is claimed or withdrawn, never both', async () => {
    const refs = Array.from({ length: 25 }, (_, i) => `local:${1000 + i}`);
    await addIdle(refs);
    const [won, withdrawn] = await Promise.all([
      Promise.all(Array.from({ length: 50 }, (_, i) => registry.claim(`call-${i}`, AT))),
      Promise.all(refs.map((ref) => registry.withdraw(ref))),
    ]);
    const claimed = won.filter((ref): ref is string => ref !== undefined);
    const gone = refs.filter((_, i) => withdrawn[i]);
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.filter((ref) => gone.includes(ref))).toEqual([]);
    expect(claimed.length + gone.length).toBe(refs.length);
    expect((await registry.list()).map((entry) => entry.taskRef).sort()).toEqual([...claimed].sort());
  });
});
