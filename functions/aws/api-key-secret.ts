/**
 * The API keys on AWS, from the secret the stack generates (output `ApiKeySecretArn`): either a bare key, as
 * generated (one key named `default`, no limit), or the JSON of functions/core/api-keys.ts that an operator puts
 * there to have several named keys with limits. The API Lambda reads it at a cold start and then every minute
 * (functions/api-keys-config.ts `reloadingKeys`), so that a key added or revoked takes effect without a deploy.
 */
import { parseApiKeys, SINGLE_KEY_NAME, type ApiKey } from '../core/api-keys.ts';
import { AwsConfigError } from './aws-config.ts';

/** @throws AwsConfigError / ApiKeysError naming the secret and the field, never a key. */
export function apiKeysFromSecret(secretId: string, text: string): ApiKey[] {
  // A generated key has no punctuation (infra/gateway-stack.ts), so it cannot be taken for JSON.
  if (!text.trimStart().startsWith('{')) return [{ name: SINGLE_KEY_NAME, key: text }];
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text, i.e. the keys: not passed on.
    throw new AwsConfigError(`secret ${secretId} starts like JSON but is not valid JSON`);
  }
  return parseApiKeys(document, `secret ${secretId}`);
}
