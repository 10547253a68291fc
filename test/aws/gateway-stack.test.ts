/**
 * The synthesized CloudFormation template (infra/): assertions on stacks built in-process, and one `cdk synth`
 * through the CLI and cdk.json as CI and users run it — offline, with local esbuild bundling and no Docker (the
 * media task image is only staged at synth, never built).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCallStore, LIVE_INDEX, TASK_READABLE_ATTRIBUTES } from '../../shared/aws/dynamodb-call-store.ts';
import { STATE_EVENT_DETAIL_TYPE, STATE_EVENT_SOURCE } from '../../shared/aws/eventbridge-publisher.ts';
import { LAMBDA_ENV } from '../../functions/aws/aws-config.ts';
import { METRIC, METRICS_DIMENSION, METRICS_NAMESPACE } from '../../functions/aws/metrics.ts';
import { TASK_METRIC } from '../../shared/aws/emf.ts';
import { SWEEP_DEFAULTS, SWEEP_ENV } from '../../functions/sweep-config.ts';
import { NODE_FLAGS } from '../../shared/task-env.ts';
import { STATUS_CALLBACK_DETAIL_TYPE, STATUS_CALLBACK_SOURCE } from '../../functions/aws/status-callbacks.ts';
import { WEBHOOK_ENV } from '../../functions/webhooks/webhook-config.ts';
import { GatewayStack, type GatewayStackProps } from '../../infra/gateway-stack.ts';
import { readStackContext } from '../../infra/stack-context.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { RETENTION_ENV } from '../../functions/retention-config.ts';
import { STANDBY_ENV } from '../../functions/standby-config.ts';
import { PRICING_ENV } from '../../functions/pricing-config.ts';
import { STANDBY_POOL_KEY, STANDBY_TASKS_ATTRIBUTE } from '../../shared/aws/dynamodb-standby-registry.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

function synth(props: GatewayStackProps = {}) {
  // The CLI synth below bundles for real; these skip bundling for speed.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new GatewayStack(app, 'Gw', props);
  const template = Template.fromStack(stack);
  return { template, resources: template.toJSON().Resources as Resources };
}

/** Policy statements of the role whose logical id starts with `rolePrefix`. */
function statementsOf(
  resources: Resources,
  rolePrefix: string,
): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((role) => role.Ref.startsWith(rolePrefix)))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: never[] }).Statement);
}
const actionsOf = (statements: { Action: string | string[] }[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();

let main: ReturnType<typeof synth>;
beforeAll(() => {
  main = synth();
});

describe('GatewayStack template', () => {
  it('has the call table as DynamoDbCallStore.ensureTable creates it locally, plus PITR, on-demand and TTL', async () => {
    const client = new DynamoDBClient({ region: 'eu-west-1' });
    const dynamodb = mockClient(client);
    dynamodb.on(CreateTableCommand).resolves({});
    dynamodb.on(DescribeTableCommand).resolves({ Table: { TableStatus: 'ACTIVE', GlobalSecondaryIndexes: [] } });
    dynamodb.on(UpdateTimeToLiveCommand).resolves({});
    await new DynamoDbCallStore({ client, tableName: 't' }).ensureTable();
    const created = dynamodb.commandCalls(CreateTableCommand)[0]!.args[0].input;
    const localIndex = created.GlobalSecondaryIndexes![0]!;

    main.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: created.KeySchema,
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: LIVE_INDEX,
          KeySchema: localIndex.KeySchema,
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: Match.arrayWith([...localIndex.Projection!.NonKeyAttributes!]),
          },
        },
      ],
    });
    const table = Object.values(main.resources).find((r) => r.Type === 'AWS::DynamoDB::Table')!;
    const projected = (table.Properties.GlobalSecondaryIndexes as { Projection: { NonKeyAttributes: string[] } }[])[0]!
      .Projection.NonKeyAttributes;
    expect([...projected].sort()).toEqual([...localIndex.Projection!.NonKeyAttributes!].sort());
    expect(projected).not.toContain('secret');
  });

  it('runs the media task on Fargate ARM64 at 0.25 vCPU / 0.5 GB, with no secret in its definition', () => {
    main.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '256',
      Memory: '512',
      NetworkMode: 'awsvpc',
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
    });
    const taskDefinition = Object.values(main.resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
    const [container] = taskDefinition.Properties.ContainerDefinitions as {
      Environment: { Name: string }[];
      Secrets?: unknown;
      StopTimeout: number;
    }[];
    expect(container!.Environment.map((e) => e.Name).sort()).toEqual(
      [
        TASK_ENV.bindAddress,
        TASK_ENV.eventSink,
        TASK_ENV.mediaPorts,
        TASK_ENV.tableName,
        TASK_ENV.eventBusName,
        TASK_ENV.kmsKeyId,
        TASK_ENV.recordingBucket,
        TASK_ENV.gatewayName,
      ].sort(),
    );
    expect(container!.Secrets).toBeUndefined();
    expect(JSON.stringify(taskDefinition)).not.toMatch(/password/i);
    expect(JSON.stringify(main.template.toJSON())).not.toMatch(/sipPassword/);
    // 10 s to hang up, then the recording's upload (media-task/main.ts).
    expect(container!.StopTimeout).toBe(120);
  });

  it('sizes and architecture come from context', () => {
    const props = readStackContext(
      (key) => ({ taskCpu: '512', taskMemoryMiB: '1024', taskArchitecture: 'X86_64' })[key],
    );
    synth(props).template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '512',
      Memory: '1024',
      RuntimePlatform: { CpuArchitecture: 'X86_64' },
    });
    expect(() => readStackContext((key) => ({ taskCpu: '256', taskMemoryMiB: '4096' })[key])).toThrow(
      /not a Fargate size/,
    );
    expect(() => readStackContext((key) => ({ taskArchitecture: 'arm' })[key])).toThrow(/ARM64 or X86_64/);
    expect(() => readStackContext((key) => ({ logRetentionDays: '31' })[key])).toThrow(/logRetentionDays/);
  });

  it('lets SIP and RTP in on the task ports, from the configured peers only, and binds the task to those ports', () => {
    const mediaPortsOf = (template: ReturnType<typeof synth>) => {
      const taskDefinition = Object.values(template.resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
      const [container] = taskDefinition.Properties.ContainerDefinitions as {
        Environment: { Name: string; Value: unknown }[];
      }[];
      return container!.Environment.find((e) => e.Name === TASK_ENV.mediaPorts)?.Value;
    };
    // Exactly these two rules: a narrow default range, UDP for SIP and RTP/RTCP, TCP for SIP over TCP.
    main.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [
        Match.objectLike({ IpProtocol: 'udp', FromPort: 20000, ToPort: 20999, CidrIp: '0.0.0.0/0' }),
        Match.objectLike({ IpProtocol: 'tcp', FromPort: 20000, ToPort: 20999, CidrIp: '0.0.0.0/0' }),
      ],
    });
    expect(mediaPortsOf(main)).toBe('20000-20999');
    const narrowed = synth(
      readStackContext(
        (key) => ({ peerCidr: '203.0.113.0/24, 198.51.100.0/30', mediaPortFrom: '40000', mediaPortTo: '40099' })[key],
      ),
    );
    narrowed.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [
        Match.objectLike({ IpProtocol: 'udp', FromPort: 40000, ToPort: 40099, CidrIp: '203.0.113.0/24' }),
        Match.objectLike({ IpProtocol: 'tcp', FromPort: 40000, ToPort: 40099, CidrIp: '203.0.113.0/24' }),
        Match.objectLike({ IpProtocol: 'udp', FromPort: 40000, ToPort: 40099, CidrIp: '198.51.100.0/30' }),
        Match.objectLike({ IpProtocol: 'tcp', FromPort: 40000, ToPort: 40099, CidrIp: '198.51.100.0/30' }),
      ],
    });
    expect(mediaPortsOf(narrowed)).toBe('40000-40099');
    expect(() => readStackContext((key) => ({ mediaPortFrom: '40000', mediaPortTo: '40003' })[key])).toThrow(
      /at least 8 ports/,
    );
    expect(() => readStackContext((key) => ({ mediaPortFrom: '80', mediaPortTo: '1000' })[key])).toThrow(
      /mediaPortFrom/,
    );
    for (const bad of [
      '203.0.113.0',
      '203.0.113.0/33',
      '256.0.0.0/8',
      '203.0.113.0/24,',
      Array(26).fill('10.0.0.0/8').join(','),
    ]) {
      expect(() => readStackContext((key) => ({ peerCidr: bad })[key]), bad).toThrow(/peerCidr/);
    }
    // Public subnets only: no NAT gateway to pay for.
    main.template.resourceCountIs('AWS::EC2::NatGateway', 0);
  });

  it('routes state events to the recorder and stopped tasks to the reconciler, each with a DLQ', () => {
    main.template.resourceCountIs('AWS::Events::EventBus', 1);
    main.template.resourceCountIs('AWS::SQS::Queue', 2);
    main.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: { source: [STATE_EVENT_SOURCE], 'detail-type': [STATE_EVENT_DETAIL_TYPE] },
      Targets: [Match.objectLike({ DeadLetterConfig: { Arn: Match.anyValue() }, RetryPolicy: Match.anyValue() })],
    });
    main.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: { clusterArn: [Match.anyValue()], lastStatus: ['STOPPED'] },
      },
      Targets: [Match.objectLike({ DeadLetterConfig: { Arn: Match.anyValue() } })],
    });
    // Failed asynchronous invocations (after Lambda's own retries) land in the DLQ too.
    const withDlq = Object.values(main.resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.DeadLetterConfig,
    );
    expect(withDlq).toHaveLength(2);
  });

  it('builds four arm64 Node 24 Lambdas with log retention, the API behind an HTTP API with throttling', () => {
    main.template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      { Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler' },
      4,
    );
    main.template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 5);
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    main.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
    });
    main.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [LAMBDA_ENV.apiKeySecretArn]: Match.anyValue(),
          [LAMBDA_ENV.subnetIds]: Match.anyValue(),
        }),
      },
    });
    for (const output of ['ApiUrl', 'ApiKeySecretArn', 'TableName', 'EventBusName'])
      main.template.hasOutput(output, {});
  });

  it('grants the API every DynamoDB request its adapters send (no test elsewhere checks IAM)', () => {
    // The DocumentClient commands of the adapters the API Lambda builds, as IAM names them; the table set-up
    // commands (ensureTable) run in local mode only.
    const itemAction = (command: string) =>
      ['Get', 'Put', 'Update', 'Delete', 'BatchGet', 'BatchWrite'].includes(command) ? `${command}Item` : command;
    const sent = [
      'shared/aws/dynamodb-call-store.ts',
      'shared/aws/dynamodb-key-limits.ts',
      'shared/aws/dynamodb-standby-registry.ts',
      'shared/aws/dynamodb-command-mailbox.ts',
    ].flatMap((file) =>
      [
        ...readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8').matchAll(
          /new (\w+)Command\(/g,
        ),
      ]
        .map((match) => match[1]!)
        .filter((command) => !['CreateTable', 'DescribeTable', 'UpdateTimeToLive'].includes(command))
        .map((command) => `dynamodb:${itemAction(command)}`),
    );
    expect(sent).toContain('dynamodb:BatchGetItem');
    expect(actionsOf(statementsOf(main.resources, 'ApiFunctionServiceRole'))).toEqual(
      expect.arrayContaining([...new Set(sent)]),
    );
  });

  it('grants each role only what its code calls', () => {
    const api = statementsOf(main.resources, 'ApiFunctionServiceRole');
    expect(actionsOf(api)).toEqual(
      [
        'dynamodb:BatchGetItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:UpdateItem',
        'ecs:RunTask',
        'ecs:StopTask',
        'ecs:TagResource',
        'events:PutEvents',
        'iam:PassRole',
        'kms:Decrypt',
        'kms:Encrypt',
        's3:GetObject',
        'secretsmanager:GetSecretValue',
      ].sort(),
    );
    // Each principal may put events under its own source only: the recorder signs whatever the API's source carries.
    expect(api.find((s) => s.Action === 'events:PutEvents')!.Condition).toEqual({
      StringEquals: { 'events:source': STATUS_CALLBACK_SOURCE },
    });
    expect(api.find((s) => s.Action === 'ecs:RunTask')!.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/^MediaCluster/), 'Arn'] } },
    });
    expect(api.find((s) => s.Action === 'iam:PassRole')!.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });

    const task = statementsOf(main.resources, 'MediaTaskDefinitionTaskRole');
    expect(actionsOf(task)).toEqual([
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'ec2:DescribeNetworkInterfaces',
      'events:PutEvents',
      'kms:Decrypt',
      's3:PutObject',
    ]);
    // A task that parsed something hostile must touch no other call: it reads no record's stored password or
    // task ARN (the attributes it may read are listed), writes the standby pool's entries only, and decrypts
    // only ciphertexts bound to a call (its own copy comes sealed, docs/aws.md).
    const read = task.find((s) => s.Action === 'dynamodb:GetItem')!;
    expect(read.Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...TASK_READABLE_ATTRIBUTES] },
      StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
    });
    expect(TASK_READABLE_ATTRIBUTES).not.toContain('secret');
    expect(TASK_READABLE_ATTRIBUTES).not.toContain('taskRef');
    expect(task.find((s) => s.Action === 'dynamodb:UpdateItem')!.Condition).toEqual({
      'ForAllValues:StringEquals': {
        'dynamodb:LeadingKeys': [STANDBY_POOL_KEY],
        'dynamodb:Attributes': [STANDBY_TASKS_ATTRIBUTE],
      },
    });
    expect(task.find((s) => s.Action === 'kms:Decrypt')!.Condition).toEqual({
      Null: { 'kms:EncryptionContext:callId': 'false' },
    });
    // No statement of the task role is unconditional on the table.
    for (const statement of task.filter((s) => String(s.Action).startsWith('dynamodb:')))
      expect(statement.Condition).toBeDefined();
    expect(task.find((s) => s.Action === 'events:PutEvents')!.Condition).toEqual({
      StringEquals: { 'events:source': STATE_EVENT_SOURCE },
    });
    for (const prefix of ['RecorderFunctionServiceRole', 'ReconcilerFunctionServiceRole']) {
      const actions = actionsOf(statementsOf(main.resources, prefix));
      expect(actions).toEqual(
        expect.arrayContaining(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'sqs:SendMessage']),
      );
      expect(actions.filter((a) => /kms|ecs|events|secretsmanager/.test(a))).toEqual(['secretsmanager:GetSecretValue']);
    }
    const everything = Object.values(main.resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => actionsOf((r.Properties.PolicyDocument as { Statement: never[] }).Statement));
    expect(everything.filter((a) => a.endsWith(':*') || a === '*')).toEqual([]);
  });
});

describe('recordings', () => {
  const bucketId = () => Object.entries(main.resources).find(([, r]) => r.Type === 'AWS::S3::Bucket')![0];
  const objects = () => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId(), 'Arn'] }, '/recordings/*']] });

  it('keeps them in one private bucket: encrypted, no public access, TLS only, expired after 30 days', () => {
    main.template.resourceCountIs('AWS::S3::Bucket', 1);
    main.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    main.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          { Id: 'ExpireRecordings', Prefix: 'recordings/', ExpirationInDays: 30, Status: 'Enabled' },
        ]),
      },
    });
    main.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId() },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('expires them after recordingRetentionDays from context, refusing a value out of range', () => {
    const custom = synth(readStackContext((key) => ({ recordingRetentionDays: '7' })[key]));
    custom.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 7 })]) },
    });
    for (const days of ['0', '3651', 'x'])
      expect(() => readStackContext((key) => ({ recordingRetentionDays: days })[key])).toThrow(
        /recordingRetentionDays/,
      );
  });

  it('lets the task put objects under recordings/ only, and the API get them there (its links) only', () => {
    const task = statementsOf(main.resources, 'MediaTaskDefinitionTaskRole').filter((s) =>
      actionsOf([s]).some((a) => a.startsWith('s3:')),
    );
    expect(task).toEqual([expect.objectContaining({ Action: 's3:PutObject', Resource: objects() })]);
    const api = statementsOf(main.resources, 'ApiFunctionServiceRole').filter((s) =>
      actionsOf([s]).some((a) => a.startsWith('s3:')),
    );
    expect(api).toEqual([expect.objectContaining({ Action: 's3:GetObject', Resource: objects() })]);
    for (const prefix of ['RecorderFunctionServiceRole', 'ReconcilerFunctionServiceRole', 'SweeperFunctionServiceRole'])
      expect(actionsOf(statementsOf(main.resources, prefix)).filter((a) => a.startsWith('s3:'))).toEqual([]);
  });

  it('tells the task and the API the bucket, and the task the Gateway dimension of its metrics', () => {
    const taskDefinition = Object.values(main.resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
    const [container] = taskDefinition.Properties.ContainerDefinitions as {
      Environment: { Name: string; Value: unknown }[];
    }[];
    const env = Object.fromEntries(container!.Environment.map((e) => [e.Name, e.Value]));
    expect(env[TASK_ENV.recordingBucket]).toEqual({ Ref: bucketId() });
    expect(env[TASK_ENV.gatewayName]).toBe('Gw');
    main.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [LAMBDA_ENV.recordingBucket]: { Ref: bucketId() } }) },
    });
    main.template.hasOutput('RecordingsBucketName', { Value: { Ref: bucketId() } });
  });
});

describe('sweeper and alarms', () => {
  const fnOf = (prefix: string) =>
    Object.entries(main.resources).find(([id, r]) => id.startsWith(prefix) && r.Type === 'AWS::Lambda::Function')!;
  const cluster = { 'Fn::GetAtt': [expect.stringMatching(/^MediaCluster/), 'Arn'] };
  const alarms = () => Object.entries(main.resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const alarm = (prefix: string) => alarms().find(([id]) => id.startsWith(prefix))![1].Properties;

  it('runs the sweeper every minute, without retries (the next minute makes up for a missed sweep)', () => {
    const [sweeperId] = fnOf('SweeperFunction');
    main.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [sweeperId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
    main.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [sweeperId, 'Arn'] },
      Principal: 'events.amazonaws.com',
    });
    const variables = (fnOf('SweeperFunction')[1].Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(variables).toMatchObject({
      [LAMBDA_ENV.tableName]: { Ref: expect.stringMatching(/^Calls/) },
      [LAMBDA_ENV.clusterArn]: cluster,
      [SWEEP_ENV.launchGraceSeconds]: String(SWEEP_DEFAULTS.launchGraceSeconds),
      [SWEEP_ENV.stoppedGraceSeconds]: String(SWEEP_DEFAULTS.stoppedGraceSeconds),
      [SWEEP_ENV.limitGraceSeconds]: String(SWEEP_DEFAULTS.limitGraceSeconds),
      [LAMBDA_ENV.gatewayName]: 'Gw',
    });
    // Every function labels its metrics with the stack, as the alarms read them, and keeps a final call as long.
    for (const prefix of ['ApiFunction', 'RecorderFunction', 'ReconcilerFunction', 'SweeperFunction']) {
      const env = (fnOf(prefix)[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env[LAMBDA_ENV.gatewayName]).toBe('Gw');
      expect(env[RETENTION_ENV]).toBe('400');
    }
  });

  it('keeps finished calls callRetentionDays (default 400), refusing a value out of range', () => {
    expect(readStackContext(() => undefined).callRetentionDays).toBe(400);
    expect(readStackContext((key) => ({ callRetentionDays: '30' })[key]).callRetentionDays).toBe(30);
    expect(() => readStackContext((key) => ({ callRetentionDays: '0' })[key])).toThrow(/callRetentionDays/);
  });

  it('prices usage in every Lambda at the deployed task size and the usagePrices context, refusing a bad one', () => {
    const pricesOf = (resources: Resources) =>
      Object.values(resources)
        .filter((r) => r.Type === 'AWS::Lambda::Function')
        .map((r) =>
          JSON.parse((r.Properties.Environment as { Variables: Record<string, string> }).Variables[PRICING_ENV]!),
        );
    for (const prices of pricesOf(main.resources)) expect(prices).toEqual({ taskVcpu: 0.25, taskGb: 0.5 });
    const props = readStackContext(
      (key) => ({ taskCpu: '512', taskMemoryMiB: '1024', usagePrices: '{"dataOutGbUsd":0.085}' })[key],
    );
    for (const prices of pricesOf(synth(props).resources))
      expect(prices).toEqual({ dataOutGbUsd: 0.085, taskVcpu: 0.5, taskGb: 1 });
    expect(() => readStackContext((key) => ({ usagePrices: '{"dataOutGbUsd":-1}' })[key])).toThrow(
      /usagePrices: dataOutGbUsd must not be negative/,
    );
    expect(() => readStackContext((key) => ({ usagePrices: '{' })[key])).toThrow(/usagePrices must be JSON/);
  });

  it('keeps standbyTasks tasks waiting (default 1, 0 turns it off): the API and the sweeper read the same size', () => {
    expect(readStackContext(() => undefined).standbyTasks).toBe(1);
    expect(readStackContext((key) => ({ standbyTasks: '0' })[key]).standbyTasks).toBe(0);
    expect(() => readStackContext((key) => ({ standbyTasks: '-1' })[key])).toThrow(/standbyTasks/);
    const sizeOf = (resources: Resources, prefix: string) =>
      (
        Object.entries(resources).find(([id, r]) => id.startsWith(prefix) && r.Type === 'AWS::Lambda::Function')![1]
          .Properties.Environment as { Variables: Record<string, string> }
      ).Variables[STANDBY_ENV.tasks];
    for (const prefix of ['ApiFunction', 'SweeperFunction']) {
      expect(sizeOf(main.resources, prefix)).toBe('1');
      expect(sizeOf(synth({ standbyTasks: 3 }).resources, prefix)).toBe('3');
    }
  });

  it("lets the sweeper describe and stop this cluster's tasks only, and list live calls from the index, never scan", () => {
    const statements = statementsOf(main.resources, 'SweeperFunctionServiceRole');
    expect(actionsOf(statements)).toEqual(
      [
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        'ecs:DescribeTasks',
        'ecs:RunTask',
        'ecs:StopTask',
        'iam:PassRole',
        'secretsmanager:GetSecretValue',
      ].sort(),
    );
    // Standby tasks of this cluster's task definition, with its roles passed to ECS only.
    expect(statements.find((s) => s.Action === 'ecs:RunTask')!.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': cluster },
    });
    expect(statements.find((s) => s.Action === 'iam:PassRole')!.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
    const ecs = statements.find((s) => Array.isArray(s.Action) && s.Action.includes('ecs:DescribeTasks'))!;
    expect(ecs.Action).toEqual(['ecs:DescribeTasks', 'ecs:StopTask']);
    expect(ecs.Condition).toEqual({ ArnEquals: { 'ecs:cluster': cluster } });
    expect(JSON.stringify(ecs.Resource)).toMatch(/:task\/".*"Ref":"MediaCluster[0-9A-F]+".*\/\*"/);
    const query = statements.find((s) => s.Action === 'dynamodb:Query')!;
    expect(JSON.stringify(query.Resource)).toContain(`/index/${LIVE_INDEX}`);
  });

  it('alarms on either DLQ not empty, stuck calls, failed calls above the threshold and a failing sweeper, all to one topic', () => {
    expect(alarms()).toHaveLength(5);
    const topic = {
      Ref: Object.keys(main.resources).find(
        (id) => id.startsWith('AlarmTopic') && main.resources[id]!.Type === 'AWS::SNS::Topic',
      ),
    };
    for (const [, { Properties }] of alarms()) expect(Properties.AlarmActions).toEqual([topic]);
    for (const [prefix, queue] of [
      ['RecorderDlqAlarm', 'RecorderDlq'],
      ['ReconcilerDlqAlarm', 'ReconcilerDlq'],
    ] as const) {
      expect(alarm(prefix)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${queue}`)), 'QueueName'] } },
        ],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
    const gateway = [{ Name: METRICS_DIMENSION, Value: 'Gw' }];
    expect(alarm('StuckCallsAlarm')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.stuckCalls,
      Dimensions: gateway,
      Statistic: 'Sum',
      Threshold: 1,
      Period: 300,
    });
    expect(alarm('FailedCallsAlarm')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.failedCalls,
      Dimensions: gateway,
      Statistic: 'Sum',
      Threshold: 5,
      Period: 300,
    });
    expect(alarm('SweeperErrorsAlarm')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      EvaluationPeriods: 3,
    });
    expect(JSON.stringify(alarms())).not.toContain('callId');
  });

  it("has one dashboard: every alarm's state, the gateway's call metrics, each Lambda's errors; no call named", () => {
    const dashboards = Object.values(main.resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    // The body is a Fn::Join of literal JSON and resource references; its literal parts are what is checked.
    const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
    for (const title of ['Alarms', 'Calls (per 5 min)', 'Media (per 5 min)', 'Bytes (per 5 min)', 'Lambda errors'])
      expect(body).toContain(`\\"title\\":\\"${title}\\"`);
    for (const metric of [
      METRIC.liveCalls,
      METRIC.failedCalls,
      METRIC.stuckCalls,
      TASK_METRIC.rtpLost,
      TASK_METRIC.reconnects,
      TASK_METRIC.encoderRestarts,
      TASK_METRIC.jitter,
      TASK_METRIC.bytesOut,
      TASK_METRIC.recordingBytes,
    ])
      expect(body).toContain(`\\"${METRICS_NAMESPACE}\\",\\"${metric}\\",\\"${METRICS_DIMENSION}\\"`);
    for (const fn of ['ApiFunction', 'RecorderFunction', 'ReconcilerFunction', 'SweeperFunction'])
      expect(body).toContain(`\\"label\\":\\"${fn}\\"`);
    for (const alarm of [
      'RecorderDlqAlarm',
      'ReconcilerDlqAlarm',
      'StuckCallsAlarm',
      'FailedCallsAlarm',
      'SweeperErrorsAlarm',
    ]) {
      expect(body).toMatch(new RegExp(`"Fn::GetAtt":\\["${alarm}[0-9A-F]{8}","Arn"\\]`));
    }
    expect(body).not.toContain('callId');
  });

  it('exports the alarm topic, subscribes an address given in context, and reads the failed-call threshold from context', () => {
    main.template.hasOutput('AlarmTopicArn', { Value: { Ref: Match.stringLikeRegexp('^AlarmTopic') } });
    main.template.resourceCountIs('AWS::SNS::Subscription', 0);
    const custom = synth(
      readStackContext((key) => ({ alarmEmail: 'ops@example.com', failedCallsAlarmThreshold: '20' })[key]),
    );
    custom.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    custom.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: METRIC.failedCalls, Threshold: 20 });
    expect(() => readStackContext((key) => ({ alarmEmail: 'not-an-address' })[key])).toThrow(/alarmEmail/);
    expect(() => readStackContext((key) => ({ failedCallsAlarmThreshold: '0' })[key])).toThrow(
      /failedCallsAlarmThreshold/,
    );
  });
});

describe('webhook secrets', () => {
  const TWILIO_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gateway/twilio-AbCdEf';
  let full: ReturnType<typeof synth>;
  beforeAll(() => {
    full = synth(readStackContext((key) => ({ genericTrigger: 'true', twilioSecretArn: TWILIO_ARN })[key]));
  });
  const logicalId = (resources: Resources, prefix: string) =>
    Object.keys(resources).find((id) => id.startsWith(prefix) && resources[id]!.Type === 'AWS::SecretsManager::Secret');
  const secretReads = (resources: Resources, rolePrefix: string) =>
    statementsOf(resources, rolePrefix)
      .filter((s) => s.Action === 'secretsmanager:GetSecretValue')
      .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
  const functionEnv = (resources: Resources, prefix: string) => {
    const [fn] = Object.entries(resources).filter(
      ([id, r]) => id.startsWith(prefix) && r.Type === 'AWS::Lambda::Function',
    );
    return (fn![1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  };

  it('generates the status callback key always, the trigger key on request, and only references the Twilio secret', () => {
    main.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    full.template.resourceCountIs('AWS::SecretsManager::Secret', 3);
    for (const secret of Object.values(full.resources).filter((r) => r.Type === 'AWS::SecretsManager::Secret')) {
      expect(secret.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 40 });
      expect(secret.Properties.SecretString).toBeUndefined();
    }
    main.template.hasOutput('StatusCallbackSigningKeySecretArn', {});
    full.template.hasOutput('TriggerSigningKeySecretArn', {});
    expect(() => readStackContext((key) => ({ twilioSecretArn: 'gateway/twilio' })[key])).toThrow(/complete ARN/);
    expect(() => readStackContext((key) => ({ genericTrigger: 'yes' })[key])).toThrow(/true or false/);
  });

  it('grants each function exactly the secrets it reads', () => {
    const ref = (resources: Resources, prefix: string) => ({ Ref: logicalId(resources, prefix) });
    expect(secretReads(full.resources, 'ApiFunctionServiceRole')).toEqual([
      ref(full.resources, 'ApiKey'),
      ref(full.resources, 'StatusCallbackSigningKey'),
      ref(full.resources, 'TriggerSigningKey'),
      TWILIO_ARN,
    ]);
    expect(secretReads(main.resources, 'ApiFunctionServiceRole')).toEqual([
      ref(main.resources, 'ApiKey'),
      ref(main.resources, 'StatusCallbackSigningKey'),
    ]);
    for (const prefix of [
      'RecorderFunctionServiceRole',
      'ReconcilerFunctionServiceRole',
      'SweeperFunctionServiceRole',
    ]) {
      expect(secretReads(full.resources, prefix)).toEqual([ref(full.resources, 'StatusCallbackSigningKey')]);
    }
  });

  it('passes secrets to the Lambdas as ARNs only, and the API its own URL for Twilio signatures', () => {
    const secretNames = [
      WEBHOOK_ENV.statusSigningKey,
      WEBHOOK_ENV.triggerSigningKey,
      WEBHOOK_ENV.twilioAuthToken,
      WEBHOOK_ENV.twilioSipPassword,
    ];
    for (const fn of Object.values(full.resources).filter((r) => r.Type === 'AWS::Lambda::Function')) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(variables).filter((name) => (secretNames as string[]).includes(name))).toEqual([]);
      expect(JSON.stringify(variables)).not.toMatch(/SecretString|resolve:secretsmanager/);
    }
    const api = functionEnv(full.resources, 'ApiFunction');
    expect(api).toMatchObject({
      [LAMBDA_ENV.statusSigningKeySecretArn]: { Ref: logicalId(full.resources, 'StatusCallbackSigningKey') },
      [LAMBDA_ENV.triggerSigningKeySecretArn]: { Ref: logicalId(full.resources, 'TriggerSigningKey') },
      [LAMBDA_ENV.twilioSecretArn]: TWILIO_ARN,
    });
    expect(JSON.stringify(api[WEBHOOK_ENV.publicBaseUrl])).toMatch(/"Ref":"HttpApi[0-9A-F]+".*execute-api/);
    const apiByDefault = functionEnv(main.resources, 'ApiFunction');
    for (const name of [LAMBDA_ENV.triggerSigningKeySecretArn, LAMBDA_ENV.twilioSecretArn, WEBHOOK_ENV.publicBaseUrl])
      expect(apiByDefault[name]).toBeUndefined();
    for (const prefix of ['RecorderFunction', 'ReconcilerFunction', 'SweeperFunction']) {
      expect(functionEnv(main.resources, prefix)[LAMBDA_ENV.statusSigningKeySecretArn]).toEqual({
        Ref: logicalId(main.resources, 'StatusCallbackSigningKey'),
      });
    }
  });

  it('gives the functions that deliver callbacks time for every retry, and routes the API hand-offs to the recorder', () => {
    for (const prefix of ['RecorderFunction', 'ReconcilerFunction', 'SweeperFunction']) {
      const [fn] = Object.entries(main.resources).filter(
        ([id, r]) => id.startsWith(prefix) && r.Type === 'AWS::Lambda::Function',
      );
      expect(fn![1].Properties.Timeout).toBeGreaterThanOrEqual(95);
    }
    const recorderArn = { 'Fn::GetAtt': [expect.stringMatching(/^RecorderFunction/), 'Arn'] };
    main.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: [STATUS_CALLBACK_SOURCE], 'detail-type': [STATUS_CALLBACK_DETAIL_TYPE] },
      Targets: [Match.objectLike({ Arn: Match.anyValue(), DeadLetterConfig: { Arn: Match.anyValue() } })],
    });
    const rule = Object.values(main.resources).find(
      (r) =>
        r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.EventPattern).includes(STATUS_CALLBACK_SOURCE),
    )!;
    expect((rule.Properties.Targets as { Arn: unknown }[])[0]!.Arn).toEqual(recorderArn);
  });
});

describe('npx cdk synth (cdk.json, offline)', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  let outdir: string;
  let result: ReturnType<typeof spawnSync>;
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'cdk-synth-'));
    // No credentials and no Docker: CI has neither. `cli-telemetry: false` in cdk.json keeps it offline.
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: '',
      PATH: process.env.PATH,
    };
    result = spawnSync(
      process.execPath,
      [join(root, 'node_modules/aws-cdk/bin/cdk'), 'synth', '--quiet', '--no-notices', '-o', outdir],
      { cwd: root, env, encoding: 'utf8', timeout: 90_000 },
    );
  }, 100_000);
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('succeeds, bundles the four Lambdas with local esbuild and only stages the image build context', () => {
    expect(result.status, String(result.stderr)).toBe(0);
    const manifestFile = readdirSync(outdir).find((f) => f.endsWith('.assets.json'))!;
    const manifest = JSON.parse(readFileSync(join(outdir, manifestFile), 'utf8')) as {
      files: Record<string, { source: { path: string; packaging: string } }>;
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform?: string } }>;
    };
    const bundles = Object.values(manifest.files).filter((f) => f.source.packaging === 'zip');
    expect(bundles).toHaveLength(4);
    for (const bundle of bundles) expect(existsSync(join(outdir, bundle.source.path, 'index.mjs'))).toBe(true);
    // The API's bundle carries the console's files where console-routes.ts looks for them: web/ beside the code.
    const withConsole = bundles.filter((bundle) => existsSync(join(outdir, bundle.source.path, 'web')));
    expect(withConsole).toHaveLength(1);
    const web = join(outdir, withConsole[0]!.source.path, 'web');
    expect(readdirSync(web)).toEqual(expect.arrayContaining(['index.html', 'app.js', 'console.css']));
    expect(readFileSync(join(outdir, withConsole[0]!.source.path, 'index.mjs'), 'utf8')).toContain('./web/');
    const [image] = Object.values(manifest.dockerImages);
    expect(image!.source).toMatchObject({ dockerFile: 'media-task/Dockerfile', platform: 'linux/arm64' });
    // .dockerignore keeps the staged context to what the image build reads: the task imports nothing from functions/.
    expect(readdirSync(join(outdir, image!.source.directory)).sort()).toEqual([
      '.dockerignore',
      'media-task',
      'package-lock.json',
      'package.json',
      'shared',
    ]);
  });
});

describe('media task image', () => {
  it('runs the bundle with the node flags the local launcher passes (NODE_FLAGS)', () => {
    const dockerfile = readFileSync(fileURLToPath(new URL('../../media-task/Dockerfile', import.meta.url)), 'utf8');
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', ...NODE_FLAGS, 'main.mjs']);
  });

  it('builds every stage on one Node 24 base, pinned by digest', () => {
    const dockerfile = readFileSync(fileURLToPath(new URL('../../media-task/Dockerfile', import.meta.url)), 'utf8');
    expect(/^ARG NODE_IMAGE=(.*)$/m.exec(dockerfile)?.[1]).toMatch(/^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    const bases = [...dockerfile.matchAll(/^FROM (?:--platform=\S+ )?(\S+)/gm)].map((match) => match[1]);
    expect(bases).toHaveLength(4);
    expect(new Set(bases)).toEqual(new Set(['${NODE_IMAGE}']));
  });
});
