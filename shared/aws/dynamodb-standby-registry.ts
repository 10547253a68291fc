/**
 * `StandbyRegistry` over the DynamoDB API (AWS, DynamoDB Local, the embedded store): the whole pool is one item of
 * the call table, keyed `standby#pool` (a `#` is never in a callId). One item, read with a consistent GetItem,
 * and not an index: a task that just became idle is claimable at once (a GSI lags), and a pool is a handful of
 * tasks. Each state move is an UpdateItem conditioned on the entry's state, which is what makes a claim atomic
 * without transactions (dynalite has none).
 *
 * Entries (`tasks`) are keyed by a hash of the taskRef, and the taskRefs themselves are kept apart (`refs`): on
 * AWS every task may read `tasks` (its own entry is there) but not `refs`, so that no task learns another's ARN,
 * which is what the recorder trusts a task's events by.
 */
import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { StandbyEntry, StandbyRegistry, StandbyState } from '../standby-registry.ts';
import { isConditionFailure } from './condition-failure.ts';

/** The pool item's key; the task role's policy names it (infra/gateway-stack.ts). */
export const STANDBY_POOL_KEY = 'standby#pool';
/** The attribute of entries, readable by tasks; `refs` is not. */
export const STANDBY_TASKS_ATTRIBUTE = 'tasks';
const REFS = 'refs';

/** An entry's key: the taskRef, hashed. */
function entryKey(taskRef: string): string {
  return createHash('sha256').update(taskRef).digest('hex').slice(0, 32);
}

/** A claim re-reads the pool after losing every race it saw; each loss means another claim won. */
const MAX_CLAIM_READS = 10;

export interface DynamoDbStandbyRegistryOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Picks among idle tasks, so that concurrent claims spread over them; for tests. */
  random?: () => number;
}

type StoredEntry = Omit<StandbyEntry, 'taskRef'>;
type PoolItem = { tasks?: Record<string, StoredEntry>; refs?: Record<string, string> };

export class DynamoDbStandbyRegistry implements StandbyRegistry {
  private readonly doc: DynamoDBDocumentClient;
  private readonly random: () => number;

  constructor(private readonly options: DynamoDbStandbyRegistryOptions) {
    this.doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
    this.random = options.random ?? Math.random;
  }

  async add(taskRef: string, at: string): Promise<void> {
    const entry: StoredEntry = { state: 'starting', since: at };
    for (let attempt = 0; attempt < 2; attempt++) {
      const added = await this.moveEntry(
        taskRef,
        'SET #tasks.#t = :entry, #refs.#t = :ref',
        'attribute_exists(#tasks)',
        { ':entry': entry, ':ref': taskRef },
        { '#refs': REFS },
      );
      if (added) return;
      // The first entry ever: the pool item is created empty, by us or a concurrent add.
      await this.doc
        .send(
          new PutCommand({
            TableName: this.options.tableName,
            Item: { callId: STANDBY_POOL_KEY, kind: 'standby', tasks: {}, [REFS]: {} },
            ConditionExpression: 'attribute_not_exists(callId)',
          }),
        )
        .catch((error: unknown) => {
          if (!isConditionFailure(error)) throw error;
        });
    }
    throw new Error(`could not add ${taskRef} to the standby pool`);
  }

  markIdle(taskRef: string, at: string): Promise<boolean> {
    return this.moveFrom(taskRef, 'starting', { state: 'idle', since: at });
  }

  async claim(callId: string, at: string): Promise<string | undefined> {
    for (let read = 0; read < MAX_CLAIM_READS; read++) {
      const idle = (await this.list()).filter((entry) => entry.state === 'idle');
      if (idle.length === 0) return undefined;
      // Concurrent claims that all tried the same first task would lose one race per winner.
      for (let i = idle.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [idle[i], idle[j]] = [idle[j] as StandbyEntry, idle[i] as StandbyEntry];
      }
      for (const { taskRef } of idle) {
        if (await this.moveFrom(taskRef, 'idle', { state: 'claimed', since: at, callId })) return taskRef;
      }
    }
    return undefined;
  }

  release(taskRef: string, callId: string, at: string): Promise<boolean> {
    return this.moveClaimed(taskRef, callId, { state: 'idle', since: at });
  }

  assign(taskRef: string, callId: string, at: string, sealed?: string): Promise<boolean> {
    return this.moveClaimed(taskRef, callId, { state: 'assigned', since: at, callId, ...(sealed ? { sealed } : {}) });
  }

  withdraw(taskRef: string): Promise<boolean> {
    return this.moveEntry(
      taskRef,
      'REMOVE #tasks.#t, #refs.#t',
      '#tasks.#t.#state = :from',
      { ':from': 'idle' },
      { '#state': 'state', '#refs': REFS },
    );
  }

  async remove(taskRef: string): Promise<void> {
    await this.moveEntry(taskRef, 'REMOVE #tasks.#t, #refs.#t', 'attribute_exists(#tasks)', {}, { '#refs': REFS });
  }

  async get(taskRef: string): Promise<StandbyEntry | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: { callId: STANDBY_POOL_KEY },
        ProjectionExpression: '#tasks.#t',
        ExpressionAttributeNames: { '#tasks': STANDBY_TASKS_ATTRIBUTE, '#t': entryKey(taskRef) },
        ConsistentRead: true,
      }),
    );
    const stored = (Item as PoolItem | undefined)?.tasks?.[entryKey(taskRef)];
    return stored ? toEntry(taskRef, stored) : undefined;
  }

  async list(): Promise<StandbyEntry[]> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: { callId: STANDBY_POOL_KEY },
        ProjectionExpression: '#tasks, #refs',
        ExpressionAttributeNames: { '#tasks': STANDBY_TASKS_ATTRIBUTE, '#refs': REFS },
        ConsistentRead: true,
      }),
    );
    const { tasks = {}, refs = {} } = (Item as PoolItem | undefined) ?? {};
    return Object.entries(tasks).flatMap(([key, stored]) => (refs[key] ? [toEntry(refs[key], stored)] : []));
  }

  /** Replaces the entry if `callId` claimed it. */
  private moveClaimed(taskRef: string, callId: string, to: StoredEntry): Promise<boolean> {
    return this.moveEntry(
      taskRef,
      'SET #tasks.#t = :to',
      '#tasks.#t.#state = :from AND #tasks.#t.#callId = :callId',
      { ':to': to, ':from': 'claimed', ':callId': callId },
      { '#state': 'state', '#callId': 'callId' },
    );
  }

  /** Replaces the entry if it is in state `from`. */
  private moveFrom(taskRef: string, from: StandbyState, to: StoredEntry): Promise<boolean> {
    return this.moveEntry(
      taskRef,
      'SET #tasks.#t = :to',
      '#tasks.#t.#state = :from',
      { ':to': to, ':from': from },
      {
        '#state': 'state',
      },
    );
  }

  /** One conditional update of the pool item; false when the condition did not hold. */
  private async moveEntry(
    taskRef: string,
    update: string,
    condition: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { callId: STANDBY_POOL_KEY },
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#tasks': STANDBY_TASKS_ATTRIBUTE, '#t': entryKey(taskRef), ...names },
          ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }
}

function toEntry(taskRef: string, stored: StoredEntry): StandbyEntry {
  return {
    taskRef,
    state: stored.state,
    since: stored.since,
    ...(stored.callId ? { callId: stored.callId } : {}),
    ...(stored.sealed ? { sealed: stored.sealed } : {}),
  };
}
