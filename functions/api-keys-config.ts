/**
 * Where the API keys (functions/core/api-keys.ts) come from locally: `API_KEYS_FILE` (a file of the keys' JSON,
 * read again every minute, so that a key is added or revoked without a restart, which would hang up every call),
 * `API_KEYS` (the JSON itself), or `API_KEY` (one key, named `default`, no limit). None: no key is needed and
 * cross-site-guard.ts applies. The API Lambda reads its secret the same way (functions/aws/api-key-secret.ts).
 */
import { parseApiKeys, SINGLE_KEY_NAME, type ApiKey, type ApiKeySource } from './core/api-keys.ts';
import type { Logger } from './core/ports.ts';
import { JsonSettingError, readJsonFile, readJsonSetting } from './json-setting.ts';

export const API_KEYS_ENV = {
  /** `{"keys":[…]}` inline, or in the file `API_KEYS_FILE` names. */
  keys: 'API_KEYS',
  /** One bare key, named `default` (SINGLE_KEY_NAME). */
  singleKey: 'API_KEY',
} as const;

/** How old the keys may be before a request reads them again. */
export const KEYS_MAX_AGE_MS = 60_000;

export interface ApiKeysSetting {
  keys: ApiKey[];
  /** The file to read again; absent when the keys came from the environment, which does not change. */
  file?: string;
  /** What errors name: the variable, or the file and its variable. */
  source: string;
}

/** @throws JsonSettingError / ApiKeysError naming the variable or file (never a key) */
export function readApiKeysSetting(env: NodeJS.ProcessEnv): ApiKeysSetting | undefined {
  const single = env[API_KEYS_ENV.singleKey] || undefined;
  const json = readJsonSetting(env, API_KEYS_ENV.keys);
  if (single !== undefined && json !== undefined)
    throw new JsonSettingError(`set ${API_KEYS_ENV.singleKey} or ${json.source}, not both`);
  if (single !== undefined) return { keys: [{ name: SINGLE_KEY_NAME, key: single }], source: API_KEYS_ENV.singleKey };
  if (json === undefined) return undefined;
  return {
    keys: parseApiKeys(json.value, json.source),
    source: json.source,
    ...(json.file === undefined ? {} : { file: json.file }),
  };
}

/** The keys as the app asks for them: the file's read again when older than a minute. */
export function localApiKeySource(setting: ApiKeysSetting, logger: Logger): ApiKeySource {
  const { file, source } = setting;
  if (file === undefined) {
    const keys = setting.keys;
    return async () => keys;
  }
  return reloadingKeys(setting.keys, async () => parseApiKeys(readJsonFile(file, source), source), { logger });
}

/**
 * Keys read again by the first request after `KEYS_MAX_AGE_MS` (that request waits: a key revoked more than a
 * minute ago is refused). A read that fails keeps the previous keys and logs why, naming no key.
 */
export function reloadingKeys(
  initial: readonly ApiKey[],
  load: () => Promise<readonly ApiKey[]>,
  options: { logger: Logger; now?: () => number },
): ApiKeySource {
  const now = options.now ?? Date.now;
  let keys = initial;
  let loadedAt = now();
  let loading: Promise<void> | undefined;
  return async () => {
    if (now() - loadedAt >= KEYS_MAX_AGE_MS) {
      loading ??= load()
        .then(
          (fresh) => {
            keys = fresh;
          },
          (error: unknown) => {
            options.logger.warn('API keys not read again: the previous ones stay in force', { error });
          },
        )
        .finally(() => {
          loadedAt = now();
          loading = undefined;
        });
      await loading;
    }
    return keys;
  };
}
