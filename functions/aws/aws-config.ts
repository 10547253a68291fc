/**
 * Environment of the Lambda functions: variable names defined once, used here and by the CDK stack
 * (infra/gateway-stack.ts), and read once per cold start. A missing variable fails the cold start, naming it.
 * Secrets travel as Secrets Manager ARNs only (functions/aws/webhook-secrets.ts reads them), never as values.
 */
import type { StandbyPolicy } from '../core/standby-plan.ts';
import { readStandbyPolicy } from '../standby-config.ts';
import { readSweepConfig, type SweepConfig } from '../sweep-config.ts';
import { WEBHOOK_ENV } from '../webhooks/webhook-config.ts';

export const LAMBDA_ENV = {
  tableName: 'TABLE_NAME',
  /** The key that encrypts SIP passwords (API: Encrypt, and Decrypt to compare retried requests). */
  kmsKeyId: 'KMS_KEY_ID',
  /** Secrets Manager secret holding the API's bearer key, or its named keys (functions/aws/api-key-secret.ts). */
  apiKeySecretArn: 'API_KEY_SECRET_ARN',
  clusterArn: 'CLUSTER_ARN',
  taskDefinitionArn: 'TASK_DEFINITION_ARN',
  containerName: 'CONTAINER_NAME',
  /** Comma-separated; public subnets, the task gets a public IP. */
  subnetIds: 'SUBNET_IDS',
  securityGroupIds: 'SECURITY_GROUP_IDS',
  /** Reconciler: seconds to wait before judging a task that exited 0 without a recorded final state. */
  finalEventGraceSeconds: 'FINAL_EVENT_GRACE_SECONDS',
  /** API: the bus it hands its own state changes to, for the recorder to deliver (functions/aws/status-callbacks.ts). */
  eventBusName: 'EVENT_BUS_NAME',
  /** Generated secret: the key that signs status callbacks (all three Lambdas). */
  statusSigningKeySecretArn: 'STATUS_CALLBACK_SIGNING_KEY_SECRET_ARN',
  /** API, optional: generated secret verifying `POST /webhooks/trigger`; absent → the route answers 404. */
  triggerSigningKeySecretArn: 'TRIGGER_SIGNING_KEY_SECRET_ARN',
  /** API, optional: the operator's JSON secret holding the `TWILIO_*` values of WEBHOOK_ENV; absent → Twilio off. */
  twilioSecretArn: 'TWILIO_SECRET_ARN',
  /** API: the stack's bucket of recordings, whose objects it pre-signs links to (shared/recording-names.ts). */
  recordingBucket: 'RECORDING_BUCKET',
  /** The `Gateway` dimension of the metrics (functions/aws/metrics.ts): the stack name, which the alarms use too. */
  gatewayName: 'GATEWAY_NAME',
} as const;

export class AwsConfigError extends Error {
  override readonly name = 'AwsConfigError';
}

/** What RunTask needs: the API launches calls' tasks, the API and the sweeper launch standby tasks. */
export interface TaskLaunchConfig {
  clusterArn: string;
  taskDefinitionArn: string;
  containerName: string;
  subnetIds: string[];
  securityGroupIds: string[];
  /** STANDBY_TASKS (default 1 on AWS) and STANDBY_MAX_IDLE_SECONDS (functions/standby-config.ts). */
  standby: StandbyPolicy;
}

export interface ApiConfig extends TaskLaunchConfig {
  tableName: string;
  kmsKeyId: string;
  apiKeySecretArn: string;
  eventBusName: string;
  webhookSecrets: WebhookSecretIds;
  recordingBucket?: string;
}

/** Where the webhook keys live; read by `loadWebhookConfig` (functions/aws/webhook-secrets.ts). */
export interface WebhookSecretIds {
  statusSigningKey: string;
  triggerSigningKey?: string;
  twilio?: string;
  /** Not a secret: the API's own URL, which Twilio's signature covers (WEBHOOK_ENV.publicBaseUrl). */
  publicBaseUrl?: string;
}

export interface RecorderConfig {
  tableName: string;
  statusSigningKeySecretArn: string;
}

export interface ReconcilerConfig {
  tableName: string;
  finalEventGraceMs: number;
  statusSigningKeySecretArn: string;
}

export interface SweeperConfig extends TaskLaunchConfig {
  tableName: string;
  statusSigningKeySecretArn: string;
  gatewayName: string;
  /** Graces from SWEEP_ENV (functions/sweep-config.ts); its interval is the schedule rule's, not read here. */
  sweep: SweepConfig;
}

/** The metrics' `Gateway` dimension; `default` outside a stack (tests). */
export function readGatewayName(env: NodeJS.ProcessEnv = process.env): string {
  return env[LAMBDA_ENV.gatewayName] || 'default';
}

/** The function's region, which Lambda sets in AWS_REGION. */
export function readRegion(env: NodeJS.ProcessEnv = process.env): string {
  return required(env, 'AWS_REGION');
}

export function readSweeperConfig(env: NodeJS.ProcessEnv = process.env): SweeperConfig {
  let sweep: SweepConfig;
  try {
    sweep = readSweepConfig(env);
  } catch (error) {
    throw new AwsConfigError((error as Error).message, { cause: error });
  }
  return {
    tableName: required(env, LAMBDA_ENV.tableName),
    ...readTaskLaunchConfig(env),
    statusSigningKeySecretArn: required(env, LAMBDA_ENV.statusSigningKeySecretArn),
    gatewayName: readGatewayName(env),
    sweep,
  };
}

/** A standby task on AWS costs money while it waits: one by default, 0 turns the pool off. */
const DEFAULT_STANDBY_TASKS = 1;

function readTaskLaunchConfig(env: NodeJS.ProcessEnv): TaskLaunchConfig {
  let standby: StandbyPolicy;
  try {
    standby = readStandbyPolicy(env, DEFAULT_STANDBY_TASKS);
  } catch (error) {
    throw new AwsConfigError((error as Error).message, { cause: error });
  }
  return {
    clusterArn: required(env, LAMBDA_ENV.clusterArn),
    taskDefinitionArn: required(env, LAMBDA_ENV.taskDefinitionArn),
    containerName: required(env, LAMBDA_ENV.containerName),
    subnetIds: list(env, LAMBDA_ENV.subnetIds),
    securityGroupIds: list(env, LAMBDA_ENV.securityGroupIds),
    standby,
  };
}

export function readApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return {
    tableName: required(env, LAMBDA_ENV.tableName),
    kmsKeyId: required(env, LAMBDA_ENV.kmsKeyId),
    apiKeySecretArn: required(env, LAMBDA_ENV.apiKeySecretArn),
    ...readTaskLaunchConfig(env),
    eventBusName: required(env, LAMBDA_ENV.eventBusName),
    ...optional(env, 'recordingBucket', LAMBDA_ENV.recordingBucket),
    webhookSecrets: {
      statusSigningKey: required(env, LAMBDA_ENV.statusSigningKeySecretArn),
      ...optional(env, 'triggerSigningKey', LAMBDA_ENV.triggerSigningKeySecretArn),
      ...optional(env, 'twilio', LAMBDA_ENV.twilioSecretArn),
      ...optional(env, 'publicBaseUrl', WEBHOOK_ENV.publicBaseUrl),
    },
  };
}

export function readRecorderConfig(env: NodeJS.ProcessEnv = process.env): RecorderConfig {
  return {
    tableName: required(env, LAMBDA_ENV.tableName),
    statusSigningKeySecretArn: required(env, LAMBDA_ENV.statusSigningKeySecretArn),
  };
}

export function readReconcilerConfig(env: NodeJS.ProcessEnv = process.env): ReconcilerConfig {
  const grace = Number(env[LAMBDA_ENV.finalEventGraceSeconds] ?? 5);
  if (!(grace >= 0 && grace <= 60))
    throw new AwsConfigError(`${LAMBDA_ENV.finalEventGraceSeconds} must be 0–60 seconds`);
  return {
    tableName: required(env, LAMBDA_ENV.tableName),
    finalEventGraceMs: grace * 1000,
    statusSigningKeySecretArn: required(env, LAMBDA_ENV.statusSigningKeySecretArn),
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new AwsConfigError(`environment variable ${name} is required`);
  return value;
}

function optional<K extends string>(env: NodeJS.ProcessEnv, key: K, name: string): { [P in K]?: string } {
  const value = env[name];
  return (value ? { [key]: value } : {}) as { [P in K]?: string };
}

function list(env: NodeJS.ProcessEnv, name: string): string[] {
  const values = required(env, name)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  if (values.length === 0) throw new AwsConfigError(`environment variable ${name} must list at least one id`);
  return values;
}
