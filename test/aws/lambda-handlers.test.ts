/**
 * The three Lambda entry points as Lambda runs them: env variables as the stack sets them, real event fixtures
 * (API Gateway v2 payload 2.0, an EventBridge event from our bus, an ECS "Task State Change"), DynamoDB on
 * dynalite, and ECS / KMS / Secrets Manager stubbed at the SDK client.
 */
import { readFileSync } from 'node:fs';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ECSClient, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context, EventBridgeEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../functions/adapters/dynamodb-call-store.ts';
import { DynamoDbCommandMailbox } from '../../functions/adapters/dynamodb-command-mailbox.ts';
import { LAMBDA_ENV } from '../../functions/aws/aws-config.ts';
import { startDynalite, type DynamoDbServer } from '../support/dynamodb.ts';
import { fakeKms, KEY_ARN } from './kms-fake.ts';

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/aws/${name}`, import.meta.url), 'utf8')) as T;
const API_KEY = 'k3y-from-secrets-manager';
const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/SipRtmpGateway-Cluster/0b6c8b3e4d8f4a4d9a1c2e3f4a5b6c7d';
const context = { awsRequestId: 'req-1', functionName: 'api' } as Context;

let server: DynamoDbServer;
let store: DynamoDbCallStore;
const savedEnv = { ...process.env };
const ecsMock = mockClient(ECSClient);
const secretsMock = mockClient(SecretsManagerClient);
fakeKms();

type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2 & { statusCode: number; body: string }>;
let api: ApiHandler;
let recorder: (event: EventBridgeEvent<string, unknown>) => Promise<void>;
let reconciler: (event: EventBridgeEvent<'ECS Task State Change', never>) => Promise<string>;

beforeAll(async () => {
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
    [LAMBDA_ENV.apiKeySecretArn]: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ApiKey-AbCdEf',
    [LAMBDA_ENV.clusterArn]: 'arn:aws:ecs:eu-west-1:123456789012:cluster/SipRtmpGateway-Cluster',
    [LAMBDA_ENV.taskDefinitionArn]: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/SipRtmpGatewayMediaTaskDefinition:3',
    [LAMBDA_ENV.containerName]: 'media',
    [LAMBDA_ENV.subnetIds]: 'subnet-0a1b2c3d4e5f60718,subnet-0b1c2d3e4f5a60719',
    [LAMBDA_ENV.securityGroupIds]: 'sg-0123456789abcdef0',
    [LAMBDA_ENV.finalEventGraceSeconds]: '0',
  });
  secretsMock.on(GetSecretValueCommand).resolves({ SecretString: API_KEY });
  ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
  ecsMock.on(StopTaskCommand).resolves({});
  api = (await import('../../functions/aws/api-handler.ts')).handler as unknown as ApiHandler;
  recorder = (await import('../../functions/aws/recorder-handler.ts')).handler;
  reconciler = (await import('../../functions/aws/reconciler-handler.ts')).handler as unknown as typeof reconciler;
});
afterAll(async () => {
  process.env = savedEnv;
  await server.close();
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
    expect(JSON.parse(started.body)).toMatchObject({ callId: 'fixture-call-1', state: 'dialing', connection: { sipLogin: '10000' } });
    expect(started.body).not.toContain('fixture-sip-password');

    const runTask = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(runTask.overrides).toEqual({ containerOverrides: [{ name: 'media', environment: [{ name: 'CALL_ID', value: 'fixture-call-1' }] }] });
    expect(runTask.networkConfiguration?.awsvpcConfiguration?.subnets).toEqual(['subnet-0a1b2c3d4e5f60718', 'subnet-0b1c2d3e4f5a60719']);
    const { Item } = await server.client().send(new GetItemCommand({ TableName: 'gw-calls', Key: { callId: { S: 'fixture-call-1' } } }));
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

  it('recorder: a malformed event throws, so Lambda retries it and then parks it in the DLQ', async () => {
    const event = fixture<EventBridgeEvent<string, unknown>>('eventbridge-state-event.json');
    await expect(recorder({ ...event, detail: { type: 'answered', callId: 'fixture-call-1' } })).rejects.toThrow(/not a state event/);
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
      ended: { by: 'local', reason: expect.stringContaining('OutOfMemoryError') as unknown as string, durationSeconds: 94 },
    });
    // The same ECS event delivered again finds the call final.
    expect(await reconciler(fixture('ecs-task-state-change-stopped.json'))).toBe('already-final');
  });
});
