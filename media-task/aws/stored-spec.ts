/**
 * The AWS task's call spec: the record the API stored (without the password) joined with the decrypted password,
 * validated again with the same schema as local mode's CALL_SPEC.
 */
import { parseCallSpec } from '../../shared/call-spec-schema.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import type { CallStore } from '../../shared/call-store.ts';

export class StoredSpecError extends Error {
  override readonly name = 'StoredSpecError';
  constructor(
    message: string,
    readonly callId: string,
  ) {
    super(message);
  }
}

/** @param store a store whose `getSecret` decrypts (shared/aws/secret-cipher.ts `EncryptingCallStore`). */
export async function loadStoredSpec(store: Pick<CallStore, 'get' | 'getSecret'>, callId: string): Promise<CallSpec> {
  const [record, secret] = await Promise.all([store.get(callId), store.getSecret(callId)]);
  if (!record)
    throw new StoredSpecError(`call ${callId} is not in the table (expired, or the wrong TABLE_NAME)`, callId);
  if (!secret) throw new StoredSpecError(`call ${callId} has no stored secret`, callId);
  return parseCallSpec({ ...record.spec, connection: { ...record.spec.connection, sipPassword: secret.sipPassword } });
}
