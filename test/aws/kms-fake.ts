/**
 * A KMS double over aws-sdk-client-mock: "ciphertexts" are opaque but carry the key and encryption context, and
 * Decrypt refuses a wrong key or context the way KMS does (InvalidCiphertextException / IncorrectKeyException).
 */
import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';

export const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';

export function fakeKms() {
  const mock = mockClient(KMSClient);
  mock
    .on(EncryptCommand)
    .callsFake((input: { KeyId: string; Plaintext: Uint8Array; EncryptionContext: Record<string, string> }) => {
      const sealed = {
        k: input.KeyId,
        c: input.EncryptionContext,
        p: Buffer.from(input.Plaintext).toString('hex').split('').reverse().join(''),
      };
      return { CiphertextBlob: new Uint8Array(Buffer.from(JSON.stringify(sealed))), KeyId: input.KeyId };
    });
  mock
    .on(DecryptCommand)
    .callsFake((input: { KeyId?: string; CiphertextBlob: Uint8Array; EncryptionContext?: Record<string, string> }) => {
      const sealed = JSON.parse(Buffer.from(input.CiphertextBlob).toString()) as {
        k: string;
        c: Record<string, string>;
        p: string;
      };
      if (input.KeyId && input.KeyId !== sealed.k)
        throw Object.assign(new Error('wrong key'), { name: 'IncorrectKeyException' });
      if (JSON.stringify(input.EncryptionContext ?? {}) !== JSON.stringify(sealed.c))
        throw Object.assign(new Error(''), { name: 'InvalidCiphertextException' });
      return { Plaintext: new Uint8Array(Buffer.from(sealed.p.split('').reverse().join(''), 'hex')), KeyId: sealed.k };
    });
  return mock;
}
