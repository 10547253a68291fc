/**
 * The three Lambda entry points as Lambda runs them: env variables as the stack sets them, real event fixtures
 * (API Gateway v2 payload 2.0, an EventBridge event from our bus, an ECS "Task State Change"), DynamoDB on
 * dynalite, ECS / KMS / Secrets Manager / EventBridge stubbed at the SDK client, and status callbacks POSTed to a
 * real HTTP receiver on 127.0.0.1.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ECSClient, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context, EventBridgeEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { DynamoDbCommandMailbox } from '../../shared/aws/dynamodb-command-mailbox.ts';
import { LAMBDA_ENV } from '../../functions/aws/aws-config.ts';
import { STATUS_CALLBACK_DETAIL_TYPE, STATUS_CALLBACK_SOURCE } from '../../functions/aws/status-callbacks.ts';
import {
  SIGNATURE_HEADER,
  TWILIO_SIGNATURE_HEADER,
  signBody,
  twilioSignature,
  verifyBodySignature,
} from '../../functions/webhooks/signature.ts';
import { WEBHOOK_ENV } from '../../functions/webhooks/webhook-config.ts';
import { startDynalite, type DynamoDbServer } from '../support/dynamodb.ts';
import { fakeKms, KEY_ARN } from './kms-fake.ts';

const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../fixtures/aws/${name}`, import.meta.url), 'utf8')) as T;
const API_KEY = 'k3y-from-secrets-manager';
const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/SipRtmpGateway-Cluster/0b6c8b3e4d8f4a4d9a1c2e3f4a5b6c7d';
const context = { awsRequestId: 'req-1', functionName: 'api' } as Context;
const SECRET_ARN = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
const STATUS_KEY = 'status-key-from-secrets-manager-0123';
const TRIGGER_KEY = 'trigger-key-from-secrets-manager-0123';
const TWILIO_TOKEN = 'twilio-auth-token-from-secrets-manager';
/** A custom domain, unlike the fixture's Host header: Twilio's signature only checks out over PUBLIC_BASE_URL. */
const PUBLIC_BASE_URL = 'https://calls.example.com';
const SECRETS: Record<string, string> = {
  [SECRET_ARN('ApiKey')]: API_KEY,
  [SECRET_ARN('StatusKey')]: STATUS_KEY,
  [SECRET_ARN('TriggerKey')]: TRIGGER_KEY,
  [SECRET_ARN('Twilio')]: JSON.stringify({
    [WEBHOOK_ENV.twilioAuthToken]: TWILIO_TOKEN,
    [WEBHOOK_ENV.twilioSipDomain]: 'gw.sip.twilio.com',
    [WEBHOOK_ENV.twilioSipLogin]: 'gateway',
    [WEBHOOK_ENV.twilioRtmpUrl]: 'rtmp://203.0.113.10/live',
  }),
};

let server: DynamoDbServer;
let store: DynamoDbCallStore;
const savedEnv = { ...process.env };
const ecsMock = mockClient(ECSClient);
const secretsMock = mockClient(SecretsManagerClient);
const eventsMock = mockClient(EventBridgeClient);
fakeKms();

type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2 & { statusCode: number; body: string }>;
let api: ApiHandler;
let recorder: (event: EventBridgeEvent<string, unknown>) => Promise<void>;
let reconciler: (event: EventBridgeEvent<'ECS Task State Change', never>) => Promise<string>;

/** Status callbacks as a receiver gets them: raw body and headers. */
interface Received {
  body: string;
  signature: string | undefined;
  delivery: string | undefined;
}
const received: Received[] = [];
let receiver: Server;
let callbackUrl: string;

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        body: Buffer.concat(chunks).toString('utf8'),
        signature: request.headers['x-gateway-signature'] as string | undefined,
        delivery: request.headers['x-gateway-delivery'] as string | undefined,
      });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/calls?token=receiver-own`;

  server = await startDynalite();
  store = new DynamoDbCallStore({ client: server.client(), tableName: 'gw-calls' });
  await store.ensureTable();
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    LOG_LEVEL: 'warn',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: server.endpoint,
    [LAMBDA_ENV.tableName]: 'gw-calls',
    [LAMBDA_ENV.kmsKeyId]: KEY_ARN,
    [LAMBDA_ENV.apiKeySecretArn]: SECRET_ARN('ApiKey'),
    [LAMBDA_ENV.statusSigningKeySecretArn]: SECRET_ARN('StatusKey'),
    [LAMBDA_ENV.triggerSigningKeySecretArn]: SECRET_ARN('TriggerKey'),
    [LAMBDA_ENV.twilioSecretArn]: SECRET_ARN('Twilio'),
    [WEBHOOK_ENV.publicBaseUrl]: `${PUBLIC_BASE_URL}/`,
    [LAMBDA_ENV.eventBusName]: 'gw-calls-bus',
    [LAMBDA_ENV.clusterArn]: 'arn:aws:ecs:eu-west-1:123456789012:cluster/SipRtmpGateway-Cluster',
    [LAMBDA_ENV.taskDefinitionArn]:
      'arn:aws:ecs:eu-west-1:123456789012:task-definition/SipRtmpGatewayMediaTaskDefinition:3',
    [LAMBDA_ENV.containerName]: 'media',
    [LAMBDA_ENV.subnetIds]: 'subnet-0a1b2c3d4e5f60718,subnet-0b1c2d3e4f5a60719',
    [LAMBDA_ENV.securityGroupIds]: 'sg-0123456789abcdef0',
    [LAMBDA_ENV.finalEventGraceSeconds]: '0',
  });
  for (const [arn, value] of Object.entries(SECRETS))
    secretsMock.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: value });
  eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
  ecsMock.on(StopTaskCommand).resolves({});
  api = (await import('../../functions/aws/api-handler.ts')).handler as unknown as ApiHandler;
  recorder = (await import('../../functions/aws/recorder-handler.ts')).handler;
  reconciler = (await import('../../functions/aws/reconciler-handler.ts')).handler as unknown as typeof reconciler;
});
afterAll(async () => {
  process.env = savedEnv;
  await server.close();
  await new Promise((resolve) => receiver.close(resolve));
});

function apiEvent(method: string, path: string, body?: unknown, key = API_KEY): APIGatewayProxyEventV2 {
  const event = fixture<APIGatewayProxyEventV2>('apigw-v2-post-call.json');
  event.rawPath = path;
  event.requestContext.http.method = method;
  event.requestContext.http.path = path;
  event.headers.authorization = `Bearer ${key}`;
  if (body !== undefined) event.body = JSON.stringify(body);
  else if (method !== 'POST') delete event.body;
  return event;
}

describe('Lambda handlers on their real event shapes', () => {
  it('API: the WCS start request of the fixture stores the call (password encrypted) and runs a task', async () => {
    const response = await api(fixture('apigw-v2-post-call.json'), context).catch((e: unknown) => e);
    expect(response).toMatchObject({ statusCode: 401 }); // the fixture's placeholder key

    const started = await api(apiEvent('POST', '/RESTCall/call'), context);
    expect(started.statusCode).toBe(200);
    expect(JSON.parse(started.body)).toMatchObject({
      callId: 'fixture-call-1',
      state: 'dialing',
      connection: { sipLogin: '10000' },
    });
    expect(started.body).not.toContain('fixture-sip-password');

    const runTask = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input;
    // The callId, and the password sealed with KMS for this call: no plaintext in the request.
    expect(runTask.overrides).toEqual({
      containerOverrides: [
        {
          name: 'media',
          environment: [
            { name: 'CALL_ID', value: 'fixture-call-1' },
            { name: 'CALL_SECRET', value: expect.stringMatching(/^kms1:/) },
          ],
        },
      ],
    });
    expect(JSON.stringify(runTask)).not.toContain('fixture-sip-password');
    expect(runTask.networkConfiguration?.awsvpcConfiguration?.subnets).toEqual([
      'subnet-0a1b2c3d4e5f60718',
      'subnet-0b1c2d3e4f5a60719',
    ]);
    const { Item } = await server
      .client()
      .send(new GetItemCommand({ TableName: 'gw-calls', Key: { callId: { S: 'fixture-call-1' } } }));
    expect(JSON.stringify(Item)).not.toContain('fixture-sip-password');
    expect(Item?.taskRef?.S).toBe(TASK_ARN);

    // A client retry of the same request is recognized (the stored password is decrypted to compare).
    const retried = await api(apiEvent('POST', '/RESTCall/call'), context);
    expect(retried.statusCode).toBe(200);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it('API: DTMF goes to the call item for the task to pick up', async () => {
    const response = await api(apiEvent('POST', '/v1/calls/fixture-call-1/dtmf', { dtmf: '1#' }), context);
    expect(response.statusCode).toBe(202);
    const mailbox = new DynamoDbCommandMailbox({ client: server.client(), tableName: 'gw-calls' });
    expect(await mailbox.read('fixture-call-1')).toEqual([{ type: 'dtmf', digits: '1#' }]);
  });

  it('recorder: the EventBridge fixture moves the call; a duplicate delivery changes nothing', async () => {
    const event = fixture<EventBridgeEvent<string, unknown>>('eventbridge-state-event.json');
    await recorder(event);
    const after = await store.get('fixture-call-1');
    expect(after).toMatchObject({ state: 'answered', lastSeq: 3 });
    await recorder(event);
    expect((await store.get('fixture-call-1'))!.version).toBe(after!.version);
  });

  it('recorder: a final event sent by another task, or by none, is ignored: the call goes on', async () => {
    const event = fixture<EventBridgeEvent<string, unknown>>('eventbridge-state-event.json');
    const forged = {
      type: 'ended',
      callId: 'fixture-call-1',
      seq: 99,
      at: '2026-11-23T18:05:26.000Z',
      by: 'remote',
      reason: 'bye',
      durationSeconds: 1,
    };
    const before = await store.get('fixture-call-1');
    await recorder({
      ...event,
      id: 'forged-1',
      detail: { ...forged, taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/SipRtmpGateway-Cluster/another' },
    });
    await recorder({ ...event, id: 'forged-2', detail: forged });
    expect(await store.get('fixture-call-1')).toMatchObject({ state: 'answered', version: before!.version });
  });

  it('recorder: a malformed event throws, so Lambda retries it and then parks it in the DLQ', async () => {
    const event = fixture<EventBridgeEvent<string, unknown>>('eventbridge-state-event.json');
    await expect(recorder({ ...event, detail: { type: 'answered', callId: 'fixture-call-1' } })).rejects.toThrow(
      /not a state event/,
    );
  });

  it('API: hang-up sets desired=ended and stops the task', async () => {
    const response = await api(apiEvent('DELETE', '/v1/calls/fixture-call-1'), context);
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body)).toMatchObject({ desiredState: 'ended', state: 'answered' });
    expect(ecsMock.commandCalls(StopTaskCommand)[0]!.args[0].input).toMatchObject({ task: TASK_ARN });
  });

  it('reconciler: the task of a hung-up call stopped without reporting → ended by local, with the stop reason', async () => {
    const outcome = await reconciler(fixture('ecs-task-state-change-stopped.json'));
    expect(outcome).toBe('marked-ended');
    expect(await store.get('fixture-call-1')).toMatchObject({
      state: 'ended',
      ended: {
        by: 'local',
        reason: expect.stringContaining('OutOfMemoryError') as unknown as string,
        durationSeconds: 94,
      },
    });
    // The same ECS event delivered again finds the call final.
    expect(await reconciler(fixture('ecs-task-state-change-stopped.json'))).toBe('already-final');
  });
});

/** What EventBridge hands the rule's target for an entry the API put. */
function deliveredEntry(entry: PutEventsRequestEntry): EventBridgeEvent<string, unknown> {
  const event = fixture<EventBridgeEvent<string, unknown>>('eventbridge-state-event.json');
  return {
    ...event,
    id: 'handed-off-1',
    source: entry.Source!,
    'detail-type': entry.DetailType!,
    detail: JSON.parse(entry.Detail!) as unknown,
  };
}

function verified(callback: Received) {
  expect(verifyBodySignature(STATUS_KEY, callback.signature, callback.body, Math.floor(Date.now() / 1000))).toBe(true);
  return JSON.parse(callback.body) as { callId: string; state: string; previousState: string | null; sequence: number };
}

describe('status callbacks and triggers on AWS, keys from Secrets Manager', () => {
  const CALL = 'hooked-call';
  const start = {
    callId: CALL,
    callee: '10001',
    rtmpUrl: 'rtmp://203.0.113.10/live',
    rtmpStream: 'hooked',
    hasVideo: false,
    connection: { sipLogin: '10000', sipPassword: 'hooked-sip-password', sipDomain: 'sip.example.net' },
    statusCallback: '',
  };

  it('API: the dialing callback is handed to the recorder over the bus, which POSTs it signed to the receiver', async () => {
    const response = await api(apiEvent('POST', '/v1/calls', { ...start, statusCallback: callbackUrl }), context);
    expect(response.statusCode, response.body).toBe(201);
    expect(response.body).not.toContain(STATUS_KEY);

    const [entry] = eventsMock.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
    expect(entry).toMatchObject({
      EventBusName: 'gw-calls-bus',
      Source: STATUS_CALLBACK_SOURCE,
      DetailType: STATUS_CALLBACK_DETAIL_TYPE,
    });
    expect(entry!.Detail).not.toContain('hooked-sip-password');
    expect(received).toHaveLength(0);

    await recorder(deliveredEntry(entry!));
    expect(received).toHaveLength(1);
    expect(verified(received[0]!)).toMatchObject({ callId: CALL, state: 'dialing', previousState: null, sequence: 1 });
    expect(received[0]!.delivery).toBe(`${CALL}:1`);
  });

  it('recorder: a state event from the bus is recorded, then POSTed with a valid signature and logged as delivered', async () => {
    const event = fixture<EventBridgeEvent<string, unknown>>('eventbridge-state-event.json');
    await recorder({
      ...event,
      detail: { type: 'ringing', callId: CALL, seq: 2, at: '2026-11-23T18:05:24.000Z', taskArn: TASK_ARN },
    });
    const record = await store.get(CALL);
    expect(record).toMatchObject({ state: 'ringing' });
    expect(received).toHaveLength(2);
    expect(verified(received[1]!)).toMatchObject({
      callId: CALL,
      state: 'ringing',
      previousState: 'dialing',
      sequence: record!.version - 1,
    });
    expect(record!.deliveries?.map((d) => [d.state, d.outcome])).toEqual([
      ['dialing', 'delivered'],
      ['ringing', 'delivered'],
    ]);

    // EventBridge delivers at least once: the duplicate changes nothing, so nothing is sent again.
    await recorder({
      ...event,
      detail: { type: 'ringing', callId: CALL, seq: 2, at: '2026-11-23T18:05:24.000Z', taskArn: TASK_ARN },
    });
    expect(received).toHaveLength(2);
  });

  it('recorder: a hand-off under the media task source is a malformed state event, never signed and sent', async () => {
    const [entry] = eventsMock.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
    await expect(recorder({ ...deliveredEntry(entry!), source: 'sip-rtmp-gateway.media-task' })).rejects.toThrow(
      /not a state event/,
    );
    expect(received).toHaveLength(2);
  });

  it('reconciler: the failed it records for a dead task is POSTed too', async () => {
    const stopped = fixture<EventBridgeEvent<'ECS Task State Change', { startedBy: string }>>(
      'ecs-task-state-change-stopped.json',
    );
    expect(await reconciler({ ...stopped, detail: { ...stopped.detail, startedBy: CALL } } as never)).toBe(
      'marked-failed',
    );
    expect(received).toHaveLength(3);
    expect(verified(received[2]!)).toMatchObject({ callId: CALL, state: 'failed', previousState: 'ringing' });
  });

  it('API: the generic trigger verifies with the trigger key from Secrets Manager', async () => {
    const body = JSON.stringify({ action: 'hangup', callId: CALL });
    const signed = (key: string) => {
      const event = apiEvent('POST', '/webhooks/trigger');
      event.body = body;
      delete event.headers.authorization;
      event.headers[SIGNATURE_HEADER.toLowerCase()] = signBody(key, body, Math.floor(Date.now() / 1000));
      return event;
    };
    expect((await api(signed(STATUS_KEY), context)).statusCode).toBe(403);
    expect((await api(signed(TRIGGER_KEY), context)).statusCode).toBe(202);
  });

  it('API: Twilio callbacks verify with the token from the Twilio secret, over PUBLIC_BASE_URL', async () => {
    const params = new URLSearchParams({ To: 'sip:cm9vbQ@gw.sip.twilio.com', From: 'sip:caller@example.com' });
    const event = apiEvent('POST', '/webhooks/twilio/voice');
    event.body = params.toString();
    delete event.headers.authorization;
    event.headers['content-type'] = 'application/x-www-form-urlencoded';
    event.headers[TWILIO_SIGNATURE_HEADER.toLowerCase()] = twilioSignature(
      TWILIO_TOKEN,
      `${PUBLIC_BASE_URL}/webhooks/twilio/voice`,
      params,
    );
    const response = await api(event, context);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.body).toContain('<Conference');

    event.headers[TWILIO_SIGNATURE_HEADER.toLowerCase()] = twilioSignature(
      TWILIO_TOKEN,
      'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/webhooks/twilio/voice',
      params,
    );
    expect((await api(event, context)).statusCode).toBe(403);
  });
});
