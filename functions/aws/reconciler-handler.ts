/** Lambda entry point: ECS "task stopped" events → calls whose task died without a final state are closed. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { createLogger } from '../../shared/log.ts';
import { readReconcilerConfig, readGatewayName } from './aws-config.ts';
import { emfSink } from './metrics.ts';
import { createReconcilerHandler } from './task-reconciler.ts';
import { readSecretString } from './webhook-secrets.ts';
import { readRetentionSeconds } from '../retention-config.ts';
import { readPricing } from '../pricing-config.ts';

const config = readReconcilerConfig();
// Once per cold start (top-level await), so the key is in neither the template nor the environment.
const statusSigningKey = await readSecretString(new SecretsManagerClient({}), config.statusSigningKeySecretArn);
export const handler = createReconcilerHandler({
  store: new DynamoDbCallStore({
    client: new DynamoDBClient({}),
    tableName: config.tableName,
    retentionSeconds: readRetentionSeconds(process.env),
  }),
  logger: createLogger({ component: 'reconciler' }),
  finalEventGraceMs: config.finalEventGraceMs,
  statusSigningKey,
  pricing: readPricing(process.env),
  metrics: emfSink(readGatewayName()),
});
