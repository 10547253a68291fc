/**
 * Named API keys: who may use the API, the name their calls are recorded and billed under, and how many live
 * calls each may have at once. One JSON form wherever they come from (a file or variable locally,
 * functions/api-keys-config.ts; the API key secret on AWS, functions/aws/api-key-secret.ts):
 * `{"keys":[{"name":"ops","key":"…","maxConcurrentCalls":3},{"name":"old","key":"…","revoked":true}]}`.
 */
import * as z from 'zod';
import { equalStrings } from './call-record.ts';

export interface ApiKey {
  name: string;
  key: string;
  /** Live calls this key may have at once; absent → no limit. */
  maxConcurrentCalls?: number;
  /** Refused like an unknown key; kept in the list so that the name stays taken and its usage readable. */
  revoked?: boolean;
}

/** What a new call is recorded and limited under: the key that asked for it (fits `ApiKey`), or a webhook's name. */
export type CallOrigin = Pick<ApiKey, 'name' | 'maxConcurrentCalls'>;

/** Where the keys come from at the time of a request: a fixed list, or one re-read now and then. */
export type ApiKeySource = () => Promise<readonly ApiKey[]>;

/** The name of the one key of the `API_KEY` setting (locally) and of a secret holding a bare key (on AWS). */
export const SINGLE_KEY_NAME = 'default';

/** Names of the calls a webhook started: its sender's signature let it in, not a key. */
export const WEBHOOK_KEY_NAMES = { twilio: 'webhook:twilio', trigger: 'webhook:trigger' } as const;

/** Configured names: no `:`, which webhook names have, and safe in a DynamoDB key (shared/aws/dynamodb-key-limits.ts). */
const KEY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** What `GET /v1/usage?key=` accepts: a configured name or a webhook's. */
export const KEY_NAME_QUERY = /^[A-Za-z0-9_.:-]{1,64}$/;
/** A limit item holds one entry per live call, and DynamoDB items are capped at 400 KB. */
export const MAX_CONCURRENT_CALLS = 1000;

const keySchema = z.strictObject({
  name: z.string().regex(KEY_NAME, 'must be 1–64 characters of A–Z a–z 0–9 _ . -'),
  // A short key can be guessed online; whitespace would not survive an Authorization header.
  key: z
    .string()
    .min(16, 'must be at least 16 characters')
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  maxConcurrentCalls: z
    .int('must be a whole number')
    .min(1, 'must be at least 1 (revoke the key to stop its calls)')
    .max(MAX_CONCURRENT_CALLS, `must be at most ${MAX_CONCURRENT_CALLS}`)
    .optional(),
  revoked: z.boolean('must be true or false').optional(),
});

const keyListSchema = z
  .strictObject({ keys: z.array(keySchema, 'must be a list').min(1, 'must list at least one key') })
  .superRefine(({ keys }, context) => {
    const names = new Set<string>();
    const values = new Set<string>();
    keys.forEach((entry, index) => {
      if (names.has(entry.name))
        context.addIssue({ code: 'custom', path: ['keys', index, 'name'], message: `repeats the name ${entry.name}` });
      // Two names for one key would leave it open which one its calls count against.
      if (values.has(entry.key))
        context.addIssue({ code: 'custom', path: ['keys', index, 'key'], message: 'repeats the key of another entry' });
      names.add(entry.name);
      values.add(entry.key);
    });
  });

export class ApiKeysError extends Error {
  override readonly name = 'ApiKeysError';
}

/**
 * Checks a parsed `{"keys":[…]}` document.
 * @param source what to name in the error: the variable, file or secret the document came from.
 * @throws ApiKeysError naming `source` and the field, never a key.
 */
export function parseApiKeys(document: unknown, source: string): ApiKey[] {
  const result = keyListSchema.safeParse(document);
  if (result.success) return result.data.keys;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  throw new ApiKeysError(`${source}: ${field ? `${field} ` : ''}${issue.message}`);
}

/**
 * The key an `Authorization: Bearer <key>` header presents; undefined when it is unknown or revoked. Every key
 * is compared in full, so the time taken tells neither which key matched nor how close a guess came.
 */
export function findApiKey(keys: readonly ApiKey[], authorization: string): ApiKey | undefined {
  let found: ApiKey | undefined;
  for (const entry of keys) if (equalStrings(authorization, `Bearer ${entry.key}`)) found = entry;
  return found?.revoked ? undefined : found;
}
