/**
 * The SIP password at rest on AWS: encrypted before it reaches DynamoDB, decrypted from there only by the API (to
 * compare a retried request). The call's task gets a copy of its own, sealed the same way, in its RunTask request
 * or its standby entry (docs/aws.md); its role cannot read the stored one. `EncryptingCallStore` wraps any `CallStore`, so the DynamoDB adapter
 * and the core stay unaware of it, and local mode keeps storing it as is (its store is on the user's disk).
 */
import type { CallListFilter, CallRecord, CallSecret, CallStore, CreateOptions } from '../call-store.ts';

/** Encrypts small secrets bound to one call: a ciphertext decrypts only with the callId it was made for. */
export interface SecretCipher {
  /** Bound to the call, and with `taskRef` to that task as well: it decrypts with the same two only. */
  encrypt(plaintext: string, callId: string, taskRef?: string): Promise<string>;
  decrypt(ciphertext: string, callId: string, taskRef?: string): Promise<string>;
}

export class EncryptingCallStore implements CallStore {
  constructor(
    private readonly inner: CallStore,
    private readonly cipher: SecretCipher,
  ) {}

  async create(record: CallRecord, secret: CallSecret, options?: CreateOptions): Promise<'created' | CallRecord> {
    const sealed = { sipPassword: await this.cipher.encrypt(secret.sipPassword, record.callId) };
    return this.inner.create(record, sealed, options);
  }

  async getSecret(callId: string): Promise<CallSecret | undefined> {
    const stored = await this.inner.getSecret(callId);
    return stored && { sipPassword: await this.cipher.decrypt(stored.sipPassword, callId) };
  }

  get(callId: string): Promise<CallRecord | undefined> {
    return this.inner.get(callId);
  }

  list(filter?: CallListFilter): Promise<CallRecord[]> {
    return this.inner.list(filter);
  }

  update(next: CallRecord, expectedVersion: number): Promise<CallRecord> {
    return this.inner.update(next, expectedVersion);
  }
}
