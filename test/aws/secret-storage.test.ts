/**
 * The SIP password on AWS, end to end over a real DynamoDB API (dynalite): the API stores it KMS-encrypted, the
 * task gets it back by callId only, and it is never in the record, the index or the item in plaintext.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { KmsSecretCipher, SecretCipherError } from '../../shared/aws/kms-secret-cipher.ts';
import { EncryptingCallStore } from '../../shared/aws/secret-cipher.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import { loadStoredSpec, StoredSpecError } from '../../media-task/aws/stored-spec.ts';
import { startDynalite, type DynamoDbServer } from '../support/dynamodb.ts';
import { fakeKms, KEY_ARN } from './kms-fake.ts';

const PASSWORD = 'Plaintext-Pa55word';
const spec = (callId: string): CallSpec => ({
  callId,
  callee: '10001',
  rtmpUrl: 'rtmp://203.0.113.10/live',
  rtmpStream: `stream-${callId}`,
  hasAudio: true,
  hasVideo: false,
  maxDurationSeconds: 600,
  rtpTimeoutSeconds: 30,
  connection: {
    sipLogin: '10000',
    sipPassword: PASSWORD,
    sipAuthenticationName: '10000',
    sipDomain: 'sip.example.net',
    sipPort: 5060,
    sipRegisterRequired: false,
    transport: 'udp',
  },
});

let server: DynamoDbServer;
let kmsMock: ReturnType<typeof fakeKms> | undefined;
let inner: DynamoDbCallStore;
let store: EncryptingCallStore;

beforeAll(async () => {
  server = await startDynalite();
  inner = new DynamoDbCallStore({ client: server.client(), tableName: 'calls' });
  await inner.ensureTable();
});
afterAll(() => server.close());
beforeEach(() => {
  kmsMock?.restore();
  kmsMock = fakeKms();
  store = new EncryptingCallStore(
    inner,
    new KmsSecretCipher({ kms: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN }),
  );
});

describe('KMS-encrypted SIP password', () => {
  it('is stored as a KMS ciphertext bound to the callId, and the task rebuilds the full spec from the callId', async () => {
    const { record, secret } = newCallRecord(spec('enc-1'), '2026-11-23T18:00:00.000Z');
    expect(await store.create(record, secret)).toBe('created');

    const { Item } = await server
      .client()
      .send(new GetItemCommand({ TableName: 'calls', Key: { callId: { S: 'enc-1' } } }));
    expect(JSON.stringify(Item)).not.toContain(PASSWORD);
    expect(Item?.secret?.M?.sipPassword?.S).toMatch(/^kms1:/);

    expect(await loadStoredSpec(store, 'enc-1')).toEqual(spec('enc-1'));
  });

  it('refuses a ciphertext copied onto another call (encryption context)', async () => {
    const cipher = new KmsSecretCipher({ kms: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN });
    const ciphertext = await cipher.encrypt(PASSWORD, 'call-a');
    await expect(cipher.decrypt(ciphertext, 'call-b')).rejects.toThrow(SecretCipherError);
    await expect(cipher.decrypt(ciphertext, 'call-a')).resolves.toBe(PASSWORD);
  });

  it('refuses a plaintext that got into the table, instead of dialing with it', async () => {
    const { record, secret } = newCallRecord(spec('plain-1'), '2026-11-23T18:00:00.000Z');
    await inner.create(record, secret);
    await expect(store.getSecret('plain-1')).rejects.toThrow(/not a KMS ciphertext/);
  });

  it('tells the task which call is missing', async () => {
    await expect(loadStoredSpec(store, 'nope')).rejects.toThrow(StoredSpecError);
  });
});
