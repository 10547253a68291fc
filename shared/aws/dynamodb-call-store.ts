/**
 * `CallStore` over the DynamoDB API (AWS, DynamoDB Local, dynalite). One item per call, keyed by `callId`:
 * - the record's fields as top-level attributes, the password apart in `secret` (never read back into a record,
 *   and not projected into the index);
 * - `live` = "1" while the call is not final: a sparse attribute, so the `live-index` GSI holds live calls only;
 * - `expiresAt` (epoch seconds) once final, the table's TTL attribute.
 * Stream-key locks are items of the same table keyed `stream#<streamKey>` (a `#` can never be in a callId).
 * There are no transactions here because dynalite has none; the lock is taken before the call item is written
 * and is stolen only from a final or vanished owner, which keeps "one live call per stream key" without them.
 * An API key's concurrency limit works the same way (dynamodb-key-limits.ts).
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  CallNotFoundError,
  ConcurrencyLimitError,
  ConcurrentUpdateError,
  StreamKeyInUseError,
} from '../call-errors.ts';
import { isFinal } from '../call-types.ts';
import type { CallListFilter, CallRecord, CallSecret, CallStore, CreateOptions } from '../call-store.ts';
import { isConditionFailure } from './condition-failure.ts';
import { COMMANDS_ATTRIBUTE } from './dynamodb-command-mailbox.ts';
import { KeyLimits } from './dynamodb-key-limits.ts';
import { STANDBY_TASKS_ATTRIBUTE } from './dynamodb-standby-registry.ts';

export const LIVE_INDEX = 'live-index';
const LIVE = '1';
const LOCK_PREFIX = 'stream#';
/** A lock whose owner record does not exist yet may belong to a create in flight; only older ones are stale. */
const LOCK_GRACE_MS = 30_000;
const RECORD_FIELDS = [
  'spec',
  'streamKey',
  'state',
  'desired',
  'lastSeq',
  'statsSeq',
  'version',
  'createdAt',
  'updatedAt',
  'stateTimes',
  'ended',
  'failure',
  'stats',
  'statsHistory',
  'recording',
  'taskRef',
  'statusCallback',
  'deliveries',
  'keyName',
] as const satisfies readonly (keyof CallRecord)[];
/** Final calls are kept this long by default: a year of usage and a month to bill it. */
export const DEFAULT_RETENTION_DAYS = 400;

type RecordField = (typeof RECORD_FIELDS)[number];

/**
 * What a media task may read of a call's item, its own or another's: what it needs to run its call (the spec, and
 * state and desired for a hang-up), the command mailbox, and the standby pool's entries. Not `secret` (its
 * password reaches it sealed, docs/aws.md) and not `taskRef` (a task's ARN is what the recorder trusts its events
 * by). The CDK stack grants the task role GetItem on exactly these (dynamodb:Attributes).
 */
export const TASK_READABLE_FIELDS = ['spec', 'state', 'desired'] as const satisfies readonly RecordField[];
export const TASK_READABLE_ATTRIBUTES: readonly string[] = [
  'callId',
  'kind',
  ...TASK_READABLE_FIELDS,
  COMMANDS_ATTRIBUTE,
  STANDBY_TASKS_ATTRIBUTE,
];

/**
 * What the live index projects (the CDK stack builds the same index from this): never `secret`. Nor `recording`,
 * which only a final call (out of the sparse index) has: a changed projection would mean a new index.
 */
export const LIVE_INDEX_PROJECTION: readonly string[] = [
  'kind',
  ...RECORD_FIELDS.filter((f) => f !== 'createdAt' && f !== 'recording'),
];

export interface DynamoDbCallStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** How long final calls stay readable (their usage) before TTL deletes them. Default 400 days. */
  retentionSeconds?: number;
  now?: () => Date;
  /**
   * The record fields `get` reads (a projection): every field by default; a media task reads
   * TASK_READABLE_FIELDS only, all its role may read, and gets a record holding those fields alone.
   */
  fields?: readonly RecordField[];
}

type Item = Record<string, unknown>;

export class DynamoDbCallStore implements CallStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly retentionSeconds: number;
  private readonly now: () => Date;
  private readonly keyLimits: KeyLimits;

  constructor(private readonly options: DynamoDbCallStoreOptions) {
    this.doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = options.tableName;
    this.retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_DAYS * 24 * 3600;
    this.now = options.now ?? (() => new Date());
    this.keyLimits = new KeyLimits({ doc: this.doc, tableName: this.table, now: this.now, graceMs: LOCK_GRACE_MS });
  }

  async create(record: CallRecord, secret: CallSecret, options: CreateOptions = {}): Promise<'created' | CallRecord> {
    await this.lockStreamKey(record.streamKey, record.callId);
    try {
      if (record.keyName !== undefined && options.keyLimit !== undefined)
        await this.keyLimits.take(record.keyName, options.keyLimit, record.callId);
    } catch (error) {
      // A retry of a call accepted before its key filled up is answered with that call.
      const existing = error instanceof ConcurrencyLimitError ? await this.get(record.callId) : undefined;
      if (existing) return this.retried(record, existing);
      await this.unlockStreamKey(record.streamKey, record.callId);
      throw error;
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: this.toItem({ ...record, version: 1 }, secret),
          ConditionExpression: 'attribute_not_exists(callId)',
        }),
      );
      return 'created';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const existing = await this.get(record.callId);
      if (!existing) throw new ConcurrentUpdateError(record.callId, { cause: error });
      return this.retried(record, existing);
    }
  }

  /** Gives back what a create of an existing callId took for `record` and the existing call does not hold. */
  private async retried(record: CallRecord, existing: CallRecord): Promise<CallRecord> {
    if (existing.streamKey !== record.streamKey) await this.unlockStreamKey(record.streamKey, record.callId);
    if (record.keyName !== undefined && (existing.keyName !== record.keyName || isFinal(existing.state)))
      await this.keyLimits.release(record.keyName, record.callId);
    return existing;
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    const item = await this.getItem(callId, ['callId', 'kind', ...(this.options.fields ?? RECORD_FIELDS)]);
    return item && item.kind === 'call' ? fromItem(item) : undefined;
  }

  async getSecret(callId: string): Promise<CallSecret | undefined> {
    const item = await this.getItem(callId, ['secret']);
    const secret = item?.secret as CallSecret | undefined;
    return secret ? { sipPassword: secret.sipPassword } : undefined;
  }

  async list(filter: CallListFilter = {}): Promise<CallRecord[]> {
    const names: Record<string, string> = { '#kind': 'kind' };
    const values: Record<string, unknown> = { ':call': 'call' };
    const conditions = ['#kind = :call'];
    if (filter.state) {
      names['#state'] = 'state';
      values[':state'] = filter.state;
      conditions.push('#state = :state');
    }
    if (filter.live === false) {
      names['#live'] = 'live';
      conditions.push('attribute_not_exists(#live)');
    }
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page =
        filter.live === true
          ? await this.doc.send(
              new QueryCommand({
                TableName: this.table,
                IndexName: LIVE_INDEX,
                KeyConditionExpression: '#live = :live',
                FilterExpression: conditions.join(' AND '),
                ExpressionAttributeNames: { ...names, '#live': 'live' },
                ExpressionAttributeValues: { ...values, ':live': LIVE },
                ExclusiveStartKey: startKey,
              }),
            )
          : await this.doc.send(
              new ScanCommand({
                TableName: this.table,
                FilterExpression: conditions.join(' AND '),
                ExpressionAttributeNames: names,
                ExpressionAttributeValues: values,
                ExclusiveStartKey: startKey,
              }),
            );
      items.push(...((page.Items ?? []) as Item[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items.map(fromItem).sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  async update(next: CallRecord, expectedVersion: number): Promise<CallRecord> {
    const stored: CallRecord = { ...next, version: expectedVersion + 1 };
    const final = isFinal(stored.state);
    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':expected': expectedVersion };
    const sets: string[] = [];
    const removes: string[] = [];
    RECORD_FIELDS.forEach((field, i) => {
      names[`#f${i}`] = field;
      if (stored[field] === undefined) removes.push(`#f${i}`);
      else {
        values[`:v${i}`] = stored[field];
        sets.push(`#f${i} = :v${i}`);
      }
    });
    names['#live'] = 'live';
    names['#expiresAt'] = 'expiresAt';
    if (final) {
      // The password served the task's start; a final call's record is kept for its usage, not its password.
      names['#secret'] = 'secret';
      removes.push('#live', '#secret');
      values[':expiresAt'] = Math.floor(this.now().getTime() / 1000) + this.retentionSeconds;
      sets.push('#expiresAt = :expiresAt');
    } else {
      values[':live'] = LIVE;
      sets.push('#live = :live');
      removes.push('#expiresAt');
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { callId: stored.callId },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: 'attribute_exists(callId) AND #version = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      if (!(await this.get(stored.callId))) throw new CallNotFoundError(stored.callId);
      throw new ConcurrentUpdateError(stored.callId, { cause: error });
    }
    if (final)
      await Promise.all([
        this.unlockStreamKey(stored.streamKey, stored.callId),
        stored.keyName === undefined ? undefined : this.keyLimits.release(stored.keyName, stored.callId),
      ]);
    return stored;
  }

  /** Creates the table, its live index and TTL if missing (local mode; on AWS the CDK stack owns the table). */
  async ensureTable(): Promise<void> {
    try {
      await this.options.client.send(
        new CreateTableCommand({
          TableName: this.table,
          AttributeDefinitions: [
            { AttributeName: 'callId', AttributeType: 'S' },
            { AttributeName: 'live', AttributeType: 'S' },
            { AttributeName: 'createdAt', AttributeType: 'S' },
          ],
          KeySchema: [{ AttributeName: 'callId', KeyType: 'HASH' }],
          GlobalSecondaryIndexes: [
            {
              IndexName: LIVE_INDEX,
              KeySchema: [
                { AttributeName: 'live', KeyType: 'HASH' },
                { AttributeName: 'createdAt', KeyType: 'RANGE' },
              ],
              // Everything a listing needs, and not `secret`: the password never reaches the index.
              Projection: {
                ProjectionType: 'INCLUDE',
                NonKeyAttributes: [...LIVE_INDEX_PROJECTION],
              },
              ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
            },
          ],
          ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error;
    }
    for (let attempt = 0; ; attempt++) {
      const { Table } = await this.options.client.send(new DescribeTableCommand({ TableName: this.table }));
      const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
      if (Table?.TableStatus === 'ACTIVE' && indexesActive) break;
      if (attempt > 100) throw new Error(`table ${this.table} did not become ACTIVE`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    try {
      await this.options.client.send(
        new UpdateTimeToLiveCommand({
          TableName: this.table,
          TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        }),
      );
    } catch (error) {
      // dynalite does not implement TTL, and a second enable is refused: neither matters locally.
      const name = (error as Error).name;
      if (name !== 'UnknownOperationException' && name !== 'ValidationException') throw error;
    }
  }

  /** `attributes`: a projection, so that a reader reads (and its role needs) no more than it uses. */
  private async getItem(key: string, attributes?: readonly string[]): Promise<Item | undefined> {
    const projection = attributes
      ? {
          ProjectionExpression: attributes.map((_, i) => `#p${i}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries(attributes.map((name, i) => [`#p${i}`, name])),
        }
      : {};
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { callId: key }, ConsistentRead: true, ...projection }),
    );
    return Item as Item | undefined;
  }

  private toItem(record: CallRecord, secret: CallSecret): Item {
    return {
      ...record,
      kind: 'call',
      secret: { sipPassword: secret.sipPassword },
      ...(isFinal(record.state)
        ? { expiresAt: Math.floor(this.now().getTime() / 1000) + this.retentionSeconds }
        : { live: LIVE }),
    };
  }

  private async lockStreamKey(streamKey: string, callId: string): Promise<void> {
    const key = LOCK_PREFIX + streamKey;
    const item = { callId: key, kind: 'lock', owner: callId, lockedAt: this.now().toISOString() };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(callId) OR #owner = :me',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':me': callId },
          }),
        );
        return;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const lock = await this.getItem(key);
      if (!lock) continue;
      const owner = String(lock.owner);
      const ownerRecord = await this.get(owner);
      const young = this.now().getTime() - Date.parse(String(lock.lockedAt)) < LOCK_GRACE_MS;
      if (ownerRecord ? !isFinal(ownerRecord.state) : young) throw new StreamKeyInUseError(owner);
      try {
        // The owner ended (its release was lost) or never got created: take the lock over, if still theirs.
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: item,
            ConditionExpression: '#owner = :old',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':old': owner },
          }),
        );
        return;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new ConcurrentUpdateError(callId);
  }

  private async unlockStreamKey(streamKey: string, callId: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { callId: LOCK_PREFIX + streamKey },
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':me': callId },
        }),
      );
    } catch (error) {
      // Someone else holds it now (it was stolen from us as stale): theirs to release.
      if (!isConditionFailure(error)) throw error;
    }
  }
}

/** Picks the record's fields only: `secret`, `live`, `expiresAt` and `kind` never leave the adapter. */
function fromItem(item: Item): CallRecord {
  const record: Record<string, unknown> = { callId: item.callId };
  for (const field of RECORD_FIELDS) if (item[field] !== undefined) record[field] = item[field];
  return record as unknown as CallRecord;
}
