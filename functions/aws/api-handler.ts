/**
 * Lambda entry point of the HTTP API: `handle(createApp(...))` with the AWS adapters. The API key is read from
 * Secrets Manager once per cold start (top-level await), so it is in neither the template nor the environment.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handle } from 'hono/aws-lambda';
import { DynamoDbCallStore } from '../adapters/dynamodb-call-store.ts';
import { DynamoDbCommandMailbox } from '../adapters/dynamodb-command-mailbox.ts';
import { EcsTaskLauncher } from '../adapters/ecs-task-launcher.ts';
import { KmsSecretCipher } from '../adapters/kms-secret-cipher.ts';
import { createApp } from '../app/create-app.ts';
import { createLogger } from '../../media-task/log.ts';
import { readApiConfig } from './aws-config.ts';
import { EncryptingCallStore } from './secret-cipher.ts';

const config = readApiConfig();
const dynamodb = new DynamoDBClient({});
const { SecretString: apiKey } = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: config.apiKeySecretArn }));
if (!apiKey) throw new Error(`secret ${config.apiKeySecretArn} has no string value`);

export const handler = handle(
  createApp({
    store: new EncryptingCallStore(
      new DynamoDbCallStore({ client: dynamodb, tableName: config.tableName }),
      new KmsSecretCipher({ kms: new KMSClient({}), keyId: config.kmsKeyId }),
    ),
    launcher: new EcsTaskLauncher({
      ecs: new ECSClient({}),
      mailbox: new DynamoDbCommandMailbox({ client: dynamodb, tableName: config.tableName }),
      cluster: config.clusterArn,
      taskDefinition: config.taskDefinitionArn,
      containerName: config.containerName,
      subnets: config.subnetIds,
      securityGroups: config.securityGroupIds,
    }),
    apiKey,
    logger: createLogger({ component: 'api' }),
  }),
);
