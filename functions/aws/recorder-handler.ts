/** Lambda entry point: state events from the gateway's EventBridge bus → the call records, then status callbacks. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { createLogger } from '../../shared/log.ts';
import { readRecorderConfig, readGatewayName } from './aws-config.ts';
import { emfSink } from './metrics.ts';
import { createRecorderHandler } from './state-event-intake.ts';
import { readSecretString } from './webhook-secrets.ts';
import { readRetentionSeconds } from '../retention-config.ts';
import { readPricing } from '../pricing-config.ts';

const config = readRecorderConfig();
// Once per cold start (top-level await), so the key is in neither the template nor the environment.
const statusSigningKey = await readSecretString(new SecretsManagerClient({}), config.statusSigningKeySecretArn);
export const handler = createRecorderHandler({
  store: new DynamoDbCallStore({
    client: new DynamoDBClient({}),
    tableName: config.tableName,
    retentionSeconds: readRetentionSeconds(process.env),
  }),
  logger: createLogger({ component: 'recorder' }),
  statusSigningKey,
  pricing: readPricing(process.env),
  metrics: emfSink(readGatewayName()),
});
