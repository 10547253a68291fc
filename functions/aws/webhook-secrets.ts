/**
 * The webhook keys on AWS: read from Secrets Manager once per cold start, so they are in neither the template nor
 * the Lambda environment, then validated by the same `readWebhookConfig` local mode runs on its environment.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { WEBHOOK_ENV, readWebhookConfig, type WebhookConfig } from '../webhooks/webhook-config.ts';
import { AwsConfigError, type WebhookSecretIds } from './aws-config.ts';

/** @throws AwsConfigError naming the secret (never its value) when it holds no string. */
export async function readSecretString(client: SecretsManagerClient, secretId: string): Promise<string> {
  const { SecretString: value } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!value) throw new AwsConfigError(`secret ${secretId} has no string value`);
  return value;
}

/** The names a Twilio secret may hold: the Twilio part of WEBHOOK_ENV, so the JSON keys match the local variables. */
const TWILIO_NAMES: ReadonlySet<string> = new Set([
  WEBHOOK_ENV.twilioAuthToken,
  WEBHOOK_ENV.twilioSipDomain,
  WEBHOOK_ENV.twilioSipLogin,
  WEBHOOK_ENV.twilioSipPassword,
  WEBHOOK_ENV.twilioRtmpUrl,
  WEBHOOK_ENV.twilioRtmpStream,
]);

/**
 * Builds the webhook config from the secrets `ids` names.
 * @throws AwsConfigError / WebhookConfigError naming the secret or variable, never a value.
 */
export async function loadWebhookConfig(
  read: (secretId: string) => Promise<string>,
  ids: WebhookSecretIds,
): Promise<WebhookConfig> {
  const [statusKey, triggerKey, twilio] = await Promise.all([
    read(ids.statusSigningKey),
    ids.triggerSigningKey ? read(ids.triggerSigningKey) : undefined,
    ids.twilio ? read(ids.twilio).then((text) => twilioValues(ids.twilio!, text)) : undefined,
  ]);
  return readWebhookConfig({
    ...twilio,
    [WEBHOOK_ENV.statusSigningKey]: statusKey,
    ...(triggerKey ? { [WEBHOOK_ENV.triggerSigningKey]: triggerKey } : {}),
    ...(ids.publicBaseUrl ? { [WEBHOOK_ENV.publicBaseUrl]: ids.publicBaseUrl } : {}),
  });
}

function twilioValues(secretId: string, text: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text, i.e. the secret: not passed on.
    throw new AwsConfigError(`secret ${secretId} must be a JSON object of ${[...TWILIO_NAMES].join(', ')}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new AwsConfigError(`secret ${secretId} must be a JSON object`);
  for (const [name, value] of Object.entries(parsed)) {
    // A misspelt name would otherwise leave its feature half configured without saying why.
    if (!TWILIO_NAMES.has(name))
      throw new AwsConfigError(`secret ${secretId} holds ${name}, which is not one of ${[...TWILIO_NAMES].join(', ')}`);
    if (typeof value !== 'string') throw new AwsConfigError(`secret ${secretId}: ${name} must be a string`);
  }
  return parsed as Record<string, string>;
}
