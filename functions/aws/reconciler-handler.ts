/** Lambda entry point: ECS "task stopped" events → calls whose task died without a final state are closed. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbCallStore } from '../adapters/dynamodb-call-store.ts';
import { createLogger } from '../../media-task/log.ts';
import { readReconcilerConfig } from './aws-config.ts';
import { createReconcilerHandler } from './task-reconciler.ts';

const config = readReconcilerConfig();
export const handler = createReconcilerHandler({
  store: new DynamoDbCallStore({ client: new DynamoDBClient({}), tableName: config.tableName }),
  logger: createLogger({ component: 'reconciler' }),
  finalEventGraceMs: config.finalEventGraceMs,
});
