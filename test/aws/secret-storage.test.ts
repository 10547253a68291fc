/**
 * The SIP password on AWS, end to end over a real DynamoDB API (dynalite): the API stores it KMS-encrypted, the
 * task gets it back by callId only, and it is never in the record, the index or the item in plaintext.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DynamoDbCallStore,
  TASK_READABLE_ATTRIBUTES,
  TASK_READABLE_FIELDS,
} from '../../shared/aws/dynamodb-call-store.ts';
import { attachTaskRef } from '../../functions/recorder.ts';
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

    // The task gets its own copy, sealed for the call, and reads the rest of the record as its role allows.
    const cipher = new KmsSecretCipher({ kms: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN });
    const sealed = await cipher.encrypt(PASSWORD, 'enc-1');
    const taskView = new DynamoDbCallStore({
      client: server.client(),
      tableName: 'calls',
      fields: TASK_READABLE_FIELDS,
    });
    expect(await loadStoredSpec(taskView, 'enc-1', cipher.decrypt(sealed, 'enc-1'))).toEqual(spec('enc-1'));
  });

  it('gives a task no more of a record than its role may read: no taskRef, no password, no callback', async () => {
    const { record, secret } = newCallRecord(spec('enc-2'), '2026-11-23T18:00:00.000Z');
    await store.create(record, secret);
    await attachTaskRef(inner, 'enc-2', 'arn:aws:ecs:eu-west-1:123456789012:task/c/other');
    const taskView = new DynamoDbCallStore({
      client: server.client(),
      tableName: 'calls',
      fields: TASK_READABLE_FIELDS,
    });
    const seen = await taskView.get('enc-2');
    expect(Object.keys(seen!).sort()).toEqual(['callId', 'desired', 'spec', 'state']);
    expect(TASK_READABLE_ATTRIBUTES).not.toContain('secret');
    expect(TASK_READABLE_ATTRIBUTES).not.toContain('taskRef');
  });

  it('refuses a copy sealed for a standby task to any other task (encryption context: callId and task ARN)', async () => {
    const cipher = new KmsSecretCipher({ kms: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN });
    const sealed = await cipher.encrypt(PASSWORD, 'call-a', 'arn:aws:ecs:eu-west-1:123456789012:task/c/mine');
    await expect(cipher.decrypt(sealed, 'call-a')).rejects.toThrow(SecretCipherError);
    await expect(cipher.decrypt(sealed, 'call-a', 'arn:aws:ecs:eu-west-1:123456789012:task/c/thief')).rejects.toThrow(
      SecretCipherError,
    );
    await expect(cipher.decrypt(sealed, 'call-a', 'arn:aws:ecs:eu-west-1:123456789012:task/c/mine')).resolves.toBe(
      PASSWORD,
    );
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
    await expect(loadStoredSpec(store, 'nope', Promise.resolve(PASSWORD))).rejects.toThrow(StoredSpecError);
  });
});
