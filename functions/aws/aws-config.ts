/**
 * Environment of the Lambda functions: variable names defined once, used here and by the CDK stack
 * (infra/gateway-stack.ts), and read once per cold start. A missing variable fails the cold start, naming it.
 */

export const LAMBDA_ENV = {
  tableName: 'TABLE_NAME',
  /** The key that encrypts SIP passwords (API: Encrypt, and Decrypt to compare retried requests). */
  kmsKeyId: 'KMS_KEY_ID',
  /** Secrets Manager secret holding the API's bearer key; one per deployment. */
  apiKeySecretArn: 'API_KEY_SECRET_ARN',
  clusterArn: 'CLUSTER_ARN',
  taskDefinitionArn: 'TASK_DEFINITION_ARN',
  containerName: 'CONTAINER_NAME',
  /** Comma-separated; public subnets, the task gets a public IP. */
  subnetIds: 'SUBNET_IDS',
  securityGroupIds: 'SECURITY_GROUP_IDS',
  /** Reconciler: seconds to wait before judging a task that exited 0 without a recorded final state. */
  finalEventGraceSeconds: 'FINAL_EVENT_GRACE_SECONDS',
} as const;

export class AwsConfigError extends Error {
  override readonly name = 'AwsConfigError';
}

export interface ApiConfig {
  tableName: string;
  kmsKeyId: string;
  apiKeySecretArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  containerName: string;
  subnetIds: string[];
  securityGroupIds: string[];
}

export interface RecorderConfig {
  tableName: string;
}

export interface ReconcilerConfig {
  tableName: string;
  finalEventGraceMs: number;
}

export function readApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return {
    tableName: required(env, LAMBDA_ENV.tableName),
    kmsKeyId: required(env, LAMBDA_ENV.kmsKeyId),
    apiKeySecretArn: required(env, LAMBDA_ENV.apiKeySecretArn),
    clusterArn: required(env, LAMBDA_ENV.clusterArn),
    taskDefinitionArn: required(env, LAMBDA_ENV.taskDefinitionArn),
    containerName: required(env, LAMBDA_ENV.containerName),
    subnetIds: list(env, LAMBDA_ENV.subnetIds),
    securityGroupIds: list(env, LAMBDA_ENV.securityGroupIds),
  };
}

export function readRecorderConfig(env: NodeJS.ProcessEnv = process.env): RecorderConfig {
  return { tableName: required(env, LAMBDA_ENV.tableName) };
}

export function readReconcilerConfig(env: NodeJS.ProcessEnv = process.env): ReconcilerConfig {
  const grace = Number(env[LAMBDA_ENV.finalEventGraceSeconds] ?? 5);
  if (!(grace >= 0 && grace <= 60)) throw new AwsConfigError(`${LAMBDA_ENV.finalEventGraceSeconds} must be 0–60 seconds`);
  return { tableName: required(env, LAMBDA_ENV.tableName), finalEventGraceMs: grace * 1000 };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new AwsConfigError(`environment variable ${name} is required`);
  return value;
}

function list(env: NodeJS.ProcessEnv, name: string): string[] {
  const values = required(env, name).split(',').map((item) => item.trim()).filter(Boolean);
  if (values.length === 0) throw new AwsConfigError(`environment variable ${name} must list at least one id`);
  return values;
}
