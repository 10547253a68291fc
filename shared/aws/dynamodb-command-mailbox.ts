/**
 * Live commands (DTMF) for a Fargate task, queued on the call's own DynamoDB item: the task polls the item every
 * ~2 s (media-task/aws/record-watcher.ts), which needs no inbound port, queue or service discovery per call.
 * The queue is the `commands` list attribute, append-only: the one task of the call remembers how many it has
 * run. `DynamoDbCallStore` never reads it into a record and its updates leave it alone (they SET/REMOVE record
 * fields by name), and the live index does not project it.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CallNotFoundError, LaunchError } from '../call-errors.ts';
import { isConditionFailure } from './condition-failure.ts';
import type { TaskCommand } from '../call-types.ts';

export const COMMANDS_ATTRIBUTE = 'commands';
/** A bound on the item's size (400 KB limit) and on what one client can queue for one call. */
export const MAX_QUEUED_COMMANDS = 200;

export interface DynamoDbCommandMailboxOptions {
  client: DynamoDBClient;
  tableName: string;
}

export class DynamoDbCommandMailbox {
  private readonly doc: DynamoDBDocumentClient;

  constructor(private readonly options: DynamoDbCommandMailboxOptions) {
    this.doc = DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
  }

  /**
   * Appends a command for the call's task.
   * @throws CallNotFoundError when the call does not exist.
   * @throws LaunchError when the call already has MAX_QUEUED_COMMANDS commands.
   */
  async push(callId: string, command: TaskCommand): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { callId },
          UpdateExpression: 'SET #commands = list_append(if_not_exists(#commands, :empty), :command)',
          ConditionExpression:
            'attribute_exists(callId) AND (attribute_not_exists(#commands) OR size(#commands) < :max)',
          ExpressionAttributeNames: { '#commands': COMMANDS_ATTRIBUTE },
          ExpressionAttributeValues: { ':empty': [], ':command': [command], ':max': MAX_QUEUED_COMMANDS },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const exists = await this.doc.send(
        new GetCommand({
          TableName: this.options.tableName,
          Key: { callId },
          ProjectionExpression: 'callId',
          ConsistentRead: true,
        }),
      );
      if (!exists.Item) throw new CallNotFoundError(callId);
      throw new LaunchError(`call ${callId} already has ${MAX_QUEUED_COMMANDS} queued commands`, { cause: error });
    }
  }

  /** Every command queued for the call so far, oldest first (empty for an unknown call). */
  async read(callId: string): Promise<TaskCommand[]> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.options.tableName,
        Key: { callId },
        ProjectionExpression: '#commands',
        ExpressionAttributeNames: { '#commands': COMMANDS_ATTRIBUTE },
        ConsistentRead: true,
      }),
    );
    return (Item?.[COMMANDS_ATTRIBUTE] as TaskCommand[] | undefined) ?? [];
  }
}
