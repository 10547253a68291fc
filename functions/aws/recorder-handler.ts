/** Lambda entry point: state events from the gateway's EventBridge bus → the call records. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbCallStore } from '../adapters/dynamodb-call-store.ts';
import { createLogger } from '../../media-task/log.ts';
import { readRecorderConfig } from './aws-config.ts';
import { createRecorderHandler } from './state-event-intake.ts';

const config = readRecorderConfig();
export const handler = createRecorderHandler({
  store: new DynamoDbCallStore({ client: new DynamoDBClient({}), tableName: config.tableName }),
  logger: createLogger({ component: 'recorder' }),
});
