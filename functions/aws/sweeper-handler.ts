/** Lambda entry point, every minute: live calls whose task never started, vanished or hung past its limit are closed. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { stopEcsTask } from '../adapters/ecs-task-inspector.ts';
import { ecsLaunching } from './ecs-standby.ts';
import { createLogger } from '../../shared/log.ts';
import { readSweeperConfig } from './aws-config.ts';
import { createSweeperHandler } from './call-sweeper.ts';
import { emfSink } from './metrics.ts';
import { readSecretString } from './webhook-secrets.ts';
import { readRetentionSeconds } from '../retention-config.ts';
import { readPricing } from '../pricing-config.ts';

const config = readSweeperConfig();
const logger = createLogger({ component: 'sweeper' });
const ecs = new ECSClient({});
const dynamodb = new DynamoDBClient({});
// The sweeper starts and stops standby tasks; it hands no call over, so it seals no password (and may not).
const sealsNothing = async (): Promise<never> => {
  throw new Error('the sweeper does not seal call secrets');
};
const { inspector, pool } = ecsLaunching(
  config,
  { ecs, dynamodb, cipher: { encrypt: sealsNothing, decrypt: sealsNothing } },
  logger,
);
// Once per cold start (top-level await), so the key is in neither the template nor the environment.
const statusSigningKey = await readSecretString(new SecretsManagerClient({}), config.statusSigningKeySecretArn);
export const handler = createSweeperHandler({
  store: new DynamoDbCallStore({
    client: dynamodb,
    tableName: config.tableName,
    retentionSeconds: readRetentionSeconds(process.env),
  }),
  inspector,
  standby: pool,
  launcher: {
    stop: async (callId, taskRef) => {
      if (taskRef) await stopEcsTask(ecs, config.clusterArn, taskRef, `call ${callId} past its max duration (sweeper)`);
    },
  },
  policy: config.sweep.policy,
  logger,
  statusSigningKey,
  pricing: readPricing(process.env),
  metrics: emfSink(config.gatewayName),
});
