/**
 * The AWS adapters against LocalStack's implementations of the services (`npm run test:localstack`, docs/aws.md):
 * DynamoDB + KMS for the stored call and its encrypted password, EventBridge for state events and for the two
 * rules' patterns exactly as the stack synthesizes them. Runs when LocalStack answers at AWS_ENDPOINT_URL
 * (default http://localhost:4566) and says clearly that it was skipped otherwise.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { EventBridgePublisher } from '../../shared/aws/eventbridge-publisher.ts';
import { KmsSecretCipher } from '../../shared/aws/kms-secret-cipher.ts';
import { EncryptingCallStore } from '../../shared/aws/secret-cipher.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { CallSpec, StateEvent } from '../../shared/call-types.ts';
import { GatewayStack } from '../../infra/gateway-stack.ts';
import { loadStoredSpec } from '../../media-task/aws/stored-spec.ts';

const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://localhost:4566';
const reachable = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(2_000) }).then(
  (response) => response.ok,
  () => false,
);
if (!reachable) {
  console.warn(
    `\n*** LocalStack suite SKIPPED: nothing answers at ${endpoint}/_localstack/health.\n*** Start LocalStack (docs/aws.md) or set AWS_ENDPOINT_URL, then run npm run test:localstack again.\n`,
  );
}

const config = {
  endpoint,
  region: process.env.AWS_REGION ?? 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
};
const run = `ls${Date.now()}`;

describe.skipIf(!reachable)('AWS adapters on LocalStack', () => {
  const dynamodb = new DynamoDBClient(config);
  const kms = new KMSClient(config);
  const events = new EventBridgeClient(config);
  let keyId: string;
  let busName: string;

  beforeAll(async () => {
    keyId = (await kms.send(new CreateKeyCommand({ Description: 'sip-rtmp-gateway localstack suite' }))).KeyMetadata!
      .Arn!;
    busName = `${run}-calls`;
    await events.send(new CreateEventBusCommand({ Name: busName }));
  });

  it('stores a call with its password KMS-encrypted, and the task rebuilds the spec from the callId', async () => {
    const tableName = `${run}-calls`;
    const inner = new DynamoDbCallStore({ client: dynamodb, tableName });
    await inner.ensureTable();
    const store = new EncryptingCallStore(inner, new KmsSecretCipher({ kms, keyId }));
    const spec: CallSpec = {
      callId: 'ls-1',
      callee: '10001',
      rtmpUrl: 'rtmp://203.0.113.10/live',
      rtmpStream: 'ls',
      hasAudio: true,
      hasVideo: false,
      maxDurationSeconds: 60,
      rtpTimeoutSeconds: 30,
      connection: {
        sipLogin: '1',
        sipPassword: 'LocalStack-Secret-1',
        sipAuthenticationName: '1',
        sipDomain: 'sip.example.net',
        sipPort: 5060,
        sipRegisterRequired: false,
        transport: 'udp',
      },
    };
    const { record, secret } = newCallRecord(spec, new Date().toISOString());
    expect(await store.create(record, secret)).toBe('created');
    const { Item } = await dynamodb.send(new GetItemCommand({ TableName: tableName, Key: { callId: { S: 'ls-1' } } }));
    expect(JSON.stringify(Item)).not.toContain('LocalStack-Secret-1');
    expect(
      await loadStoredSpec(
        store,
        'ls-1',
        store.getSecret('ls-1').then((s) => s!.sipPassword),
      ),
    ).toEqual(spec);
  });

  /** The synthesized rules' patterns, as the stack deploys them (the sweeper's schedule rule has none). */
  const patterns = () => {
    const template = Template.fromStack(
      new GatewayStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Ls'),
    );
    return Object.values(template.findResources('AWS::Events::Rule'))
      .map(
        (rule) =>
          (rule as { Properties: { EventPattern?: { source: string[]; detail?: Record<string, unknown> } } }).Properties
            .EventPattern,
      )
      .filter((pattern) => pattern !== undefined);
  };

  it('publishes state events that the stack’s recorder rule matches', async () => {
    const event: StateEvent = { type: 'streaming', callId: 'ls-1', seq: 4, at: new Date().toISOString() };
    await new EventBridgePublisher({ client: events, eventBusName: busName }).publish(event);

    const pattern = patterns().find((p) => p.source[0] !== 'aws.ecs');
    const entry = {
      id: '1',
      account: '000000000000',
      region: config.region,
      time: event.at,
      resources: [],
      source: 'sip-rtmp-gateway.media-task',
      'detail-type': 'Call State Event',
      detail: event,
    };
    const matched = await events.send(
      new TestEventPatternCommand({ EventPattern: JSON.stringify(pattern), Event: JSON.stringify(entry) }),
    );
    expect(matched.Result).toBe(true);
    const entries = await events.send(
      new PutEventsCommand({ Entries: [{ EventBusName: busName, Source: 'other', DetailType: 'x', Detail: '{}' }] }),
    );
    expect(entries.FailedEntryCount).toBe(0);
  });

  it('the reconciler rule matches ECS STOPPED events of the cluster only', async () => {
    const stopped = JSON.parse(
      readFileSync(new URL('../fixtures/aws/ecs-task-state-change-stopped.json', import.meta.url), 'utf8'),
    ) as { detail: { clusterArn: string; lastStatus: string } };
    const synthesized = patterns().find((p) => p.source[0] === 'aws.ecs')!;
    // The cluster ARN is a CloudFormation reference in the template; the fixture's cluster stands in for it.
    const pattern = { ...synthesized, detail: { ...synthesized.detail, clusterArn: [stopped.detail.clusterArn] } };
    const test = async (event: unknown) =>
      (
        await events.send(
          new TestEventPatternCommand({ EventPattern: JSON.stringify(pattern), Event: JSON.stringify(event) }),
        )
      ).Result;
    expect(await test(stopped)).toBe(true);
    expect(await test({ ...stopped, detail: { ...stopped.detail, lastStatus: 'RUNNING' } })).toBe(false);
    expect(
      await test({
        ...stopped,
        detail: { ...stopped.detail, clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/other' },
      }),
    ).toBe(false);
  });
});
