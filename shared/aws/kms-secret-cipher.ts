/**
 * `SecretCipher` over KMS Encrypt/Decrypt with a symmetric key. A SIP password (≤ 128 characters) is far under
 * KMS's 4 KB plaintext limit, so no data key is needed; the callId is the encryption context, so a ciphertext
 * copied onto another call's item does not decrypt, and CloudTrail logs which call each Decrypt was for.
 * Costs $1/month for the key and $0.03 per 10,000 requests (one Encrypt and one Decrypt per call); a Secrets
 * Manager secret per call would cost $0.40/month each.
 */
import { DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { SecretCipher } from './secret-cipher.ts';
import { withBackoff, type RetryOptions } from './aws-retry.ts';

/** Marks our ciphertexts, so a plaintext that got into the table some other way is refused, not used. */
const PREFIX = 'kms1:';

export class SecretCipherError extends Error {
  override readonly name = 'SecretCipherError';
  constructor(
    message: string,
    readonly callId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface KmsSecretCipherOptions {
  kms: KMSClient;
  keyId: string;
  retry?: RetryOptions;
}

/**
 * The call's id, and for a standby task's copy its task's ARN too: that copy sits in the pool item, which every
 * task may read, and only the task whose ARN it names (an ARN no other task can learn) can have it decrypted.
 */
function encryptionContext(callId: string, taskRef: string | undefined): Record<string, string> {
  return taskRef ? { callId, taskArn: taskRef } : { callId };
}

export class KmsSecretCipher implements SecretCipher {
  constructor(private readonly options: KmsSecretCipherOptions) {}

  async encrypt(plaintext: string, callId: string, taskRef?: string): Promise<string> {
    const { kms, keyId, retry } = this.options;
    try {
      const { CiphertextBlob } = await withBackoff(
        () =>
          kms.send(
            new EncryptCommand({
              KeyId: keyId,
              Plaintext: new TextEncoder().encode(plaintext),
              EncryptionContext: encryptionContext(callId, taskRef),
            }),
          ),
        retry,
      );
      if (!CiphertextBlob) throw new Error('KMS returned no ciphertext');
      return PREFIX + Buffer.from(CiphertextBlob).toString('base64');
    } catch (error) {
      throw new SecretCipherError(
        `could not encrypt the secret of call ${callId}: ${(error as Error).message}`,
        callId,
        { cause: error },
      );
    }
  }

  async decrypt(ciphertext: string, callId: string, taskRef?: string): Promise<string> {
    if (!ciphertext.startsWith(PREFIX))
      throw new SecretCipherError(`the secret of call ${callId} is not a KMS ciphertext`, callId);
    const { kms, keyId, retry } = this.options;
    try {
      const { Plaintext } = await withBackoff(
        () =>
          kms.send(
            // KeyId pins the key: a ciphertext made under another key is refused rather than decrypted.
            new DecryptCommand({
              KeyId: keyId,
              CiphertextBlob: Buffer.from(ciphertext.slice(PREFIX.length), 'base64'),
              EncryptionContext: encryptionContext(callId, taskRef),
            }),
          ),
        retry,
      );
      if (!Plaintext) throw new Error('KMS returned no plaintext');
      return new TextDecoder().decode(Plaintext);
    } catch (error) {
      throw new SecretCipherError(
        `could not decrypt the secret of call ${callId}: ${(error as Error).message}`,
        callId,
        { cause: error },
      );
    }
  }
}
