/**
 * The concurrency limit of API keys, in the call table: one item per key, `limit#<keyName>`, whose `holders` map
 * (callId → when it took its slot) gains an entry only while it has fewer entries than the limit, in one
 * conditional write, so parallel creates cannot overshoot. A call's entry goes when the call becomes final. Should
 * that removal be lost (the writer died in between), a create that finds the map full removes the entries of
 * final calls, and of calls that never got a record, and tries again: no slot stays taken for good.
 */
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConcurrencyLimitError, ConcurrentUpdateError } from '../call-errors.ts';
import { isFinal, type CallState } from '../call-types.ts';
import { isConditionFailure } from './condition-failure.ts';

const LIMIT_PREFIX = 'limit#';
/** BatchGetItem's most keys per request. */
const BATCH_GET_KEYS = 100;
/** Holders removed per write: each is a path in one update expression, whose size DynamoDB caps. */
const REMOVALS_PER_WRITE = 25;

export interface KeyLimitsOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  now: () => Date;
  /** A holder with no call record may be a create in flight; only one older than this is stale. */
  graceMs: number;
}

export class KeyLimits {
  constructor(private readonly options: KeyLimitsOptions) {}

  /**
   * Adds `callId` to the key's holders if they are fewer than `limit`, or if it is one already (a retry).
   * @throws ConcurrencyLimitError when `limit` live calls hold the key.
   */
  async take(keyName: string, limit: number, callId: string): Promise<void> {
    const { doc, tableName } = this.options;
    const key = LIMIT_PREFIX + keyName;
    const takenAt = this.options.now().toISOString();
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { callId: key },
            UpdateExpression: 'SET #holders.#me = :at',
            // A missing item fails the condition too: a path into a map that is not there cannot be set.
            ConditionExpression:
              'attribute_exists(#holders) AND (size(#holders) < :limit OR attribute_exists(#holders.#me))',
            ExpressionAttributeNames: { '#holders': 'holders', '#me': callId },
            ExpressionAttributeValues: { ':at': takenAt, ':limit': limit },
          }),
        );
        return;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const { Item: item } = await doc.send(
        new GetCommand({ TableName: tableName, Key: { callId: key }, ConsistentRead: true }),
      );
      if (!item) {
        try {
          await doc.send(
            new PutCommand({
              TableName: tableName,
              Item: { callId: key, kind: 'limit', holders: { [callId]: takenAt } },
              ConditionExpression: 'attribute_not_exists(callId)',
            }),
          );
          return;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
          continue;
        }
      }
      const holders = (item.holders ?? {}) as Record<string, string>;
      const stale = await this.staleHolders(holders);
      if (stale.length === 0) throw new ConcurrencyLimitError(keyName, limit);
      await this.remove(key, stale, holders);
    }
    throw new ConcurrentUpdateError(callId);
  }

  /** Frees the slot of `callId`, if it holds one. */
  async release(keyName: string, callId: string): Promise<void> {
    try {
      await this.options.doc.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { callId: LIMIT_PREFIX + keyName },
          UpdateExpression: 'REMOVE #holders.#me',
          // Without it, the release of a call whose key has no limit would create an empty item.
          ConditionExpression: 'attribute_exists(#holders)',
          ExpressionAttributeNames: { '#holders': 'holders', '#me': callId },
        }),
      );
    } catch (error) {
      // No limit item: the key never had a limit.
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** Holders whose call is final, or still has no record long after it took the slot. */
  private async staleHolders(holders: Record<string, string>): Promise<string[]> {
    const { doc, tableName } = this.options;
    const owners = Object.keys(holders);
    const states = new Map<string, unknown>();
    for (let i = 0; i < owners.length; i += BATCH_GET_KEYS) {
      const { Responses, UnprocessedKeys } = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: {
              Keys: owners.slice(i, i + BATCH_GET_KEYS).map((owner) => ({ callId: owner })),
              ConsistentRead: true,
              ProjectionExpression: 'callId, #kind, #state',
              ExpressionAttributeNames: { '#kind': 'kind', '#state': 'state' },
            },
          },
        }),
      );
      for (const item of Responses?.[tableName] ?? []) if (item.kind === 'call') states.set(item.callId, item.state);
      // Not read this time (throttled): counted as live, the safe side; the next create that finds the key full reads them again.
      for (const unread of UnprocessedKeys?.[tableName]?.Keys ?? []) states.set(String(unread.callId), 'dialing');
    }
    const now = this.options.now().getTime();
    return owners.filter((owner) => {
      const state = states.get(owner);
      if (state === undefined) return now - Date.parse(holders[owner] ?? '') >= this.options.graceMs;
      return isFinal(state as CallState);
    });
  }

  /** Removes holders, each only if it is still the entry that was judged, not one a retry of its call took again. */
  private async remove(key: string, owners: string[], judged: Record<string, string>): Promise<void> {
    for (let i = 0; i < owners.length; i += REMOVALS_PER_WRITE) {
      const chunk = owners.slice(i, i + REMOVALS_PER_WRITE);
      const names: Record<string, string> = { '#holders': 'holders' };
      const values: Record<string, unknown> = {};
      chunk.forEach((owner, j) => {
        names[`#o${j}`] = owner;
        values[`:t${j}`] = judged[owner];
      });
      try {
        await this.options.doc.send(
          new UpdateCommand({
            TableName: this.options.tableName,
            Key: { callId: key },
            UpdateExpression: `REMOVE ${chunk.map((_, j) => `#holders.#o${j}`).join(', ')}`,
            ConditionExpression: chunk.map((_, j) => `#holders.#o${j} = :t${j}`).join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
      } catch (error) {
        // One of them changed meanwhile: the next attempt reads the holders again.
        if (!isConditionFailure(error)) throw error;
      }
    }
  }
}
