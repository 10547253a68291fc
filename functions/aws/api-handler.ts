/**
 * Lambda entry point of the HTTP API: `handle(createApp(...))` with the AWS adapters. The API keys and the webhook
 * keys are read from Secrets Manager at a cold start (top-level await), so they are in neither the template nor
 * the environment; the API keys again every minute (api-key-secret.ts). The state changes the API causes go to the
 * recorder for their callbacks (status-callbacks.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { handle } from 'hono/aws-lambda';
import { systemDnsResolver } from '../adapters/dns-host-resolver.ts';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { S3RecordingLinks } from '../adapters/s3-recording-links.ts';
import { S3Bucket } from '../../shared/aws/s3-bucket.ts';
import { KmsSecretCipher } from '../../shared/aws/kms-secret-cipher.ts';
import { createApp } from '../app/create-app.ts';
import { createLogger } from '../../shared/log.ts';
import { describeWebhookConfig } from '../webhooks/webhook-config.ts';
import { readApiConfig, readGatewayName, readRegion } from './aws-config.ts';
import { ecsLaunching } from './ecs-standby.ts';
import { emfSink, METRIC } from './metrics.ts';
import { EncryptingCallStore } from '../../shared/aws/secret-cipher.ts';
import { statusCallbackRelay } from './status-callbacks.ts';
import { loadWebhookConfig, readSecretString } from './webhook-secrets.ts';
import { readRetentionSeconds } from '../retention-config.ts';
import { readPricing } from '../pricing-config.ts';
import { reloadingKeys } from '../api-keys-config.ts';
import { apiKeysFromSecret } from './api-key-secret.ts';

const config = readApiConfig();
const logger = createLogger({ component: 'api' });
const dynamodb = new DynamoDBClient({});
const secrets = new SecretsManagerClient({});
const read = (secretId: string) => readSecretString(secrets, secretId);
const readApiKeys = async () => apiKeysFromSecret(config.apiKeySecretArn, await read(config.apiKeySecretArn));
const [apiKeys, webhooks] = await Promise.all([readApiKeys(), loadWebhookConfig(read, config.webhookSecrets)]);
const pricing = readPricing(process.env);
logger.info('cold start', {
  webhooks: describeWebhookConfig(webhooks),
  apiKeys: apiKeys.map(({ name, maxConcurrentCalls, revoked }) => ({ name, maxConcurrentCalls, revoked })),
});

// Links to recordings are signed here, with the function's own role: no request to S3 until a client follows one.
const recordings = config.recordingBucket
  ? new S3RecordingLinks(
      new S3Bucket({ bucket: config.recordingBucket, region: readRegion(), credentials: defaultProvider() }),
    )
  : undefined;
const relay = statusCallbackRelay({ client: new EventBridgeClient({}), eventBusName: config.eventBusName, logger });
const metrics = emfSink(readGatewayName());
const cipher = new KmsSecretCipher({ kms: new KMSClient({}), keyId: config.kmsKeyId });
const { launcher, pool } = ecsLaunching(config, { ecs: new ECSClient({}), dynamodb, cipher }, logger);

const app = handle(
  createApp({
    store: new EncryptingCallStore(
      new DynamoDbCallStore({
        client: dynamodb,
        tableName: config.tableName,
        retentionSeconds: readRetentionSeconds(process.env),
      }),
      cipher,
    ),
    resolveHost: systemDnsResolver(),
    launcher,
    standby: pool,
    apiKeys: reloadingKeys(apiKeys, readApiKeys, { logger }),
    pricing,
    logger,
    webhooks,
    ...(recordings ? { recordings } : {}),
    onStateChange: async (record, change) => {
      // A launch failure: the one failure the API records itself.
      if (change.to === 'failed') metrics({ [METRIC.failedCalls]: 1 });
      await relay(record, change);
    },
  }),
);

/** A refill started by a claim ends before the answer: once it has answered, the Lambda may be frozen. */
export const handler: typeof app = async (event, context) => {
  try {
    return await app(event, context);
  } finally {
    await pool.settled();
  }
};
