/**
 * The AWS task's call spec: the record the API stored (without the password) joined with the password the task
 * was given sealed (CALL_SECRET, or its standby entry) and has decrypted, validated again with the same schema as
 * local mode's CALL_SPEC.
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

export async function loadStoredSpec(
  store: Pick<CallStore, 'get'>,
  callId: string,
  sipPassword: Promise<string>,
): Promise<CallSpec> {
  const [record, password] = await Promise.all([store.get(callId), sipPassword]);
  if (!record)
    throw new StoredSpecError(`call ${callId} is not in the table (expired, or the wrong TABLE_NAME)`, callId);
  return parseCallSpec({ ...record.spec, connection: { ...record.spec.connection, sipPassword: password } });
}
