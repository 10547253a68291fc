/**
 * The media task's AWS mode as main.ts composes it: configuration from the environment ECS gives the container,
 * the spec from DynamoDB (dynalite) by CALL_ID with the password decrypted, the public address from a task
 * metadata endpoint (a local HTTP server serving the v4 fixture) and EC2, events to EventBridge, and the watcher.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { KMSClient } from '@aws-sdk/client-kms';
import { DescribeNetworkInterfacesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { KmsSecretCipher } from '../../shared/aws/kms-secret-cipher.ts';
import { readApiConfig, readReconcilerConfig } from '../../functions/aws/aws-config.ts';
import { EncryptingCallStore } from '../../shared/aws/secret-cipher.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';
import { attachTaskRef, recordEvent } from '../../functions/recorder.ts';
import { DynamoDbStandbyRegistry } from '../../shared/aws/dynamodb-standby-registry.ts';
import { prepareAwsMode } from '../../media-task/aws/aws-mode.ts';
import { needsAwsMode, readTaskConfig } from '../../media-task/config.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { silentLogger } from '../../shared/log.ts';
import { startDynalite, type DynamoDbServer } from '../support/dynamodb.ts';
import { fakeKms, KEY_ARN } from './kms-fake.ts';

const spec: CallSpec = {
  callId: 'task-1',
  callee: '10001',
  rtmpUrl: 'rtmp://203.0.113.10/live',
  rtmpStream: 'task-1',
  hasAudio: true,
  hasVideo: false,
  maxDurationSeconds: 600,
  rtpTimeoutSeconds: 30,
  connection: {
    sipLogin: '10000',
    sipPassword: 'task-secret',
    sipAuthenticationName: '10000',
    sipDomain: 'sip.example.net',
    sipPort: 5060,
    sipRegisterRequired: false,
    transport: 'udp',
  },
};

describe('media task configuration', () => {
  it('reads AWS mode from CALL_ID, TABLE_NAME and KMS_KEY_ID, and names what is missing', () => {
    const env = {
      [TASK_ENV.callId]: 'c1',
      [TASK_ENV.tableName]: 't',
      [TASK_ENV.kmsKeyId]: 'k',
      [TASK_ENV.eventSink]: 'eventbridge',
      [TASK_ENV.eventBusName]: 'bus',
    };
    expect(readTaskConfig(env)).toMatchObject({
      callId: 'c1',
      standby: false,
      table: { tableName: 't', kmsKeyId: 'k' },
      eventSink: 'eventbridge',
      eventBusName: 'bus',
      rawSpec: undefined,
    });
    expect(() => readTaskConfig({ ...env, [TASK_ENV.kmsKeyId]: '' })).toThrow(/KMS_KEY_ID is required/);
    expect(() => readTaskConfig({ ...env, [TASK_ENV.tableName]: '' })).toThrow(/TABLE_NAME is required/);
    expect(() => readTaskConfig({ ...env, [TASK_ENV.eventBusName]: '' })).toThrow(/EVENT_BUS_NAME is required/);
    expect(() => readTaskConfig({ [TASK_ENV.eventSink]: 'sqs', [TASK_ENV.callSpec]: '{}' })).toThrow(
      /"stdout" or "eventbridge"/,
    );
  });

  it('writes recordings to RECORDING_DIR, or with RECORDING_BUCKET to a scratch folder it uploads from', () => {
    const base = { [TASK_ENV.callSpec]: '{}' };
    expect(readTaskConfig(base)).not.toHaveProperty('recordingDir');
    expect(readTaskConfig(base).gatewayName).toBe('default');
    expect(readTaskConfig({ ...base, [TASK_ENV.recordingDir]: '/data/recordings' })).toMatchObject({
      recordingDir: '/data/recordings',
    });
    const onAws = readTaskConfig({ ...base, [TASK_ENV.recordingBucket]: 'gw-rec', [TASK_ENV.gatewayName]: 'gw' });
    expect(onAws).toMatchObject({ recordingBucket: 'gw-rec', recordingDir: tmpdir(), gatewayName: 'gw' });
    expect(needsAwsMode(onAws)).toBe(true);
    expect(() => readTaskConfig({ ...base, [TASK_ENV.recordingDir]: 'recordings' })).toThrow(
      /RECORDING_DIR must be an absolute path/,
    );
  });

  it('reads task metadata on ECS, and discovers the public address only when PUBLIC_ADDRESS is not given', () => {
    const base = { [TASK_ENV.callSpec]: '{}', [TASK_ENV.ecsMetadataUri]: 'http://169.254.170.2/v4/x' };
    expect(readTaskConfig(base).ecsMetadataUri).toBe('http://169.254.170.2/v4/x');
    expect(readTaskConfig(base).publicAddressGiven).toBe(false);
    expect(readTaskConfig({ ...base, [TASK_ENV.publicAddress]: '198.51.100.1' })).toMatchObject({
      ecsMetadataUri: 'http://169.254.170.2/v4/x',
      publicAddressGiven: true,
    });
    expect(readTaskConfig({ [TASK_ENV.callSpec]: '{}' })).toMatchObject({ eventSink: 'stdout', rawSpec: {} });
  });

  it('reads STANDBY=1 as a task without a call yet, alone or with the table it will read its call from', () => {
    expect(readTaskConfig({ [TASK_ENV.standby]: '1' })).toMatchObject({ standby: true, rawSpec: undefined });
    expect(
      readTaskConfig({ [TASK_ENV.standby]: '1', [TASK_ENV.tableName]: 't', [TASK_ENV.kmsKeyId]: 'k' }),
    ).toMatchObject({ standby: true, table: { tableName: 't', kmsKeyId: 'k' } });
    expect(() => readTaskConfig({ [TASK_ENV.standby]: '1', [TASK_ENV.callId]: 'c1' })).toThrow(/set one of/);
    expect(() => readTaskConfig({ [TASK_ENV.standby]: '1', [TASK_ENV.callSpec]: '{}' })).toThrow(/set one of/);
    expect(() => readTaskConfig({})).toThrow(/set one of CALL_SPEC, CALL_SPEC_FILE, CALL_ID or STANDBY=1/);
    expect(() => readTaskConfig({ [TASK_ENV.standby]: '1', [TASK_ENV.tableName]: 't' })).toThrow(
      /KMS_KEY_ID is required with TABLE_NAME/,
    );
  });

  it('reads MEDIA_PORTS as the range SIP and RTP bind in, and names it when it is not one', () => {
    const base = { [TASK_ENV.callSpec]: '{}' };
    expect(readTaskConfig(base).mediaPorts).toBeUndefined();
    expect(readTaskConfig({ ...base, [TASK_ENV.mediaPorts]: '20000-20999' }).mediaPorts).toEqual({
      min: 20000,
      max: 20999,
    });
    for (const bad of ['20000', '20000-20003', '80-2000', '30000-20000', '20000-70000', 'a-b']) {
      expect(() => readTaskConfig({ ...base, [TASK_ENV.mediaPorts]: bad }), bad).toThrow(/MEDIA_PORTS must be/);
    }
  });

  it('Lambda configuration fails fast naming the variable', () => {
    expect(() => readApiConfig({ TABLE_NAME: 't' })).toThrow('environment variable KMS_KEY_ID is required');
    expect(() => readReconcilerConfig({ TABLE_NAME: 't', FINAL_EVENT_GRACE_SECONDS: '600' })).toThrow(/0–60/);
  });
});

describe('prepareAwsMode', () => {
  let server: DynamoDbServer;
  let metadata: Server;
  const saved = { ...process.env };
  const ec2 = mockClient(EC2Client);
  const eventBridge = mockClient(EventBridgeClient);
  fakeKms();

  beforeAll(async () => {
    server = await startDynalite();
    const inner = new DynamoDbCallStore({ client: server.client(), tableName: 'calls' });
    await inner.ensureTable();
    const { record, secret } = newCallRecord(spec, '2026-11-23T18:00:00.000Z');
    await new EncryptingCallStore(
      inner,
      new KmsSecretCipher({ kms: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN }),
    ).create(record, secret);
    const body = readFileSync(new URL('../fixtures/aws/task-metadata-v4.json', import.meta.url));
    metadata = createServer((request, response) =>
      response.writeHead(request.url?.endsWith('/task') ? 200 : 404).end(body),
    );
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_DYNAMODB: server.endpoint,
    });
    ec2
      .on(DescribeNetworkInterfacesCommand)
      .resolves({ NetworkInterfaces: [{ Association: { PublicIp: '198.51.100.77' } }] });
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
  });
  afterAll(async () => {
    process.env = saved;
    metadata.close();
    await server.close();
  });

  it('loads the spec by callId, discovers the public IP, publishes to the bus and watches the record', async () => {
    const config = readTaskConfig({
      [TASK_ENV.callId]: 'task-1',
      [TASK_ENV.callSecret]: await cipher().encrypt('task-secret', 'task-1'),
      [TASK_ENV.tableName]: 'calls',
      [TASK_ENV.kmsKeyId]: KEY_ARN,
      [TASK_ENV.eventSink]: 'eventbridge',
      [TASK_ENV.eventBusName]: 'gw-calls',
      [TASK_ENV.ecsMetadataUri]: `http://127.0.0.1:${(metadata.address() as AddressInfo).port}/v4/abc`,
    });
    const mode = (await prepareAwsMode(config, silentLogger))!;
    const call = (await mode.takeCall!(new AbortController().signal))!;
    expect(call.spec).toEqual(spec);
    expect(mode.publicAddress).toBe('198.51.100.77');

    await mode.sink!({ type: 'dialing', callId: 'task-1', seq: 1, at: '2026-11-23T18:00:01.000Z' });
    const entry = eventBridge.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
    expect(entry).toMatchObject({ EventBusName: 'gw-calls' });
    // The task's ARN from its metadata travels with each event: the recorder checks it against the call's task.
    expect(JSON.parse(entry.Detail!)).toMatchObject({
      type: 'dialing',
      callId: 'task-1',
      taskArn: expect.stringMatching(/^arn:aws:ecs:.*:task\//),
    });

    const seen: (TaskCommand | 'hangup')[] = [];
    const stop = call.watch({ hangup: () => void seen.push('hangup'), command: (c) => void seen.push(c) });
    const store = new DynamoDbCallStore({ client: server.client(), tableName: 'calls' });
    await recordEvent(store, { type: 'hangup-requested', callId: 'task-1', at: '2026-11-23T18:00:02.000Z' });
    await expect.poll(() => seen, { timeout: 5_000, interval: 100 }).toEqual(['hangup']);
    stop();
  });

  const cipher = () => new KmsSecretCipher({ kms: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN });
  const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/SipRtmpGateway-Cluster/0b6c8b3e4d8f4a4d9a1c2e3f4a5b6c7d';
  const standbyConfig = () =>
    readTaskConfig({
      [TASK_ENV.standby]: '1',
      [TASK_ENV.tableName]: 'calls',
      [TASK_ENV.kmsKeyId]: KEY_ARN,
      [TASK_ENV.publicAddress]: '198.51.100.9',
      [TASK_ENV.ecsMetadataUri]: `http://127.0.0.1:${(metadata.address() as AddressInfo).port}/v4/abc`,
    });

  it('a standby task marks itself idle, waits for its assignment, and runs the call that names it', async () => {
    const registry = new DynamoDbStandbyRegistry({ client: server.client(), tableName: 'calls' });
    const store = new DynamoDbCallStore({ client: server.client(), tableName: 'calls' });
    await registry.add(TASK_ARN, '2026-11-23T18:00:00.000Z');
    const mode = (await prepareAwsMode(standbyConfig(), silentLogger))!;
    const taking = mode.takeCall!(new AbortController().signal);
    await expect.poll(async () => (await registry.get(TASK_ARN))?.state, { timeout: 5_000 }).toBe('idle');
    // What the API does: claim, name the task in the record, then assign.
    expect(await registry.claim('task-1', '2026-11-23T18:00:01.000Z')).toBe(TASK_ARN);
    await attachTaskRef(store, 'task-1', TASK_ARN);
    const sealed = await cipher().encrypt('task-secret', 'task-1', TASK_ARN);
    expect(await registry.assign(TASK_ARN, 'task-1', '2026-11-23T18:00:01.000Z', sealed)).toBe(true);
    const call = (await taking)!;
    expect(call.spec).toEqual(spec);
    // The task does not touch the pool's index of ARNs; the keeper drops its assigned entry later.
    expect((await registry.get(TASK_ARN))?.state).toBe('assigned');
    await registry.remove(TASK_ARN);
  });

  it('a standby task cannot open a password sealed for another task, and exits when withdrawn or stopped', async () => {
    const registry = new DynamoDbStandbyRegistry({ client: server.client(), tableName: 'calls' });
    const mode = (await prepareAwsMode(standbyConfig(), silentLogger))!;

    await registry.add(TASK_ARN, '2026-11-23T18:00:00.000Z');
    const taking = mode.takeCall!(new AbortController().signal);
    await expect.poll(async () => (await registry.get(TASK_ARN))?.state, { timeout: 5_000 }).toBe('idle');
    const other = 'arn:aws:ecs:eu-west-1:123456789012:task/SipRtmpGateway-Cluster/other';
    await registry.claim('task-1', '2026-11-23T18:00:01.000Z');
    await registry.assign(
      TASK_ARN,
      'task-1',
      '2026-11-23T18:00:01.000Z',
      await cipher().encrypt('task-secret', 'task-1', other),
    );
    await expect(taking).rejects.toThrow(/could not decrypt/);
    await registry.remove(TASK_ARN);

    await registry.add(TASK_ARN, '2026-11-23T18:00:02.000Z');
    const withdrawn = mode.takeCall!(new AbortController().signal);
    await expect.poll(async () => (await registry.get(TASK_ARN))?.state, { timeout: 5_000 }).toBe('idle');
    expect(await registry.withdraw(TASK_ARN)).toBe(true);
    expect(await withdrawn).toBeUndefined();

    // Not listed at all (the pool dropped it before it was ready): it does not wait.
    expect(await mode.takeCall!(new AbortController().signal)).toBeUndefined();

    await registry.add(TASK_ARN, '2026-11-23T18:00:03.000Z');
    const stop = new AbortController();
    const stopped = mode.takeCall!(stop.signal);
    await expect.poll(async () => (await registry.get(TASK_ARN))?.state, { timeout: 5_000 }).toBe('idle');
    stop.abort();
    expect(await stopped).toBeUndefined();
  });

  it('is off in local mode: no AWS variable, no AWS client', async () => {
    expect(await prepareAwsMode(readTaskConfig({ [TASK_ENV.callSpec]: '{}' }), silentLogger)).toBeUndefined();
  });
});
