import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { HttpApi, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LIVE_INDEX, LIVE_INDEX_PROJECTION } from '../functions/adapters/dynamodb-call-store.ts';
import { STATE_EVENT_DETAIL_TYPE, STATE_EVENT_SOURCE } from '../functions/adapters/eventbridge-publisher.ts';
import { LAMBDA_ENV } from '../functions/aws/aws-config.ts';
import { TASK_ENV } from '../media-task/config.ts';
import { GatewayFunction } from './gateway-function.ts';
import { MediaTask, type TaskArchitecture } from './media-task-construct.ts';

export interface GatewayStackProps extends StackProps {
  taskCpu?: number;
  taskMemoryMiB?: number;
  taskArchitecture?: TaskArchitecture;
  mediaPorts?: { from: number; to: number };
  peerCidr?: string;
  logRetention?: RetentionDays;
  /** Requests per second the API accepts (steady, burst): every call starts a paid Fargate task. */
  apiThrottle?: { rateLimit: number; burstLimit: number };
}

/**
 * The gateway on AWS: HTTP API → API Lambda (the hono app) → DynamoDB + ECS RunTask; Fargate media tasks →
 * EventBridge bus → recorder Lambda; ECS "task stopped" events → reconciler Lambda.
 */
export class GatewayStack extends Stack {
  constructor(scope: Construct, id: string, props: GatewayStackProps = {}) {
    super(scope, id, props);
    const logRetention = props.logRetention ?? 30;

    const table = new Table(this, 'Calls', {
      partitionKey: { name: 'callId', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      // Call history outlives a `cdk destroy`; docs/aws.md says how to delete it.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: LIVE_INDEX,
      partitionKey: { name: 'live', type: AttributeType.STRING },
      sortKey: { name: 'createdAt', type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      // The same projection as DynamoDbCallStore.ensureTable in local mode.
      nonKeyAttributes: [...LIVE_INDEX_PROJECTION],
    });

    const passwordKey = new Key(this, 'CallSecretsKey', {
      description: 'Encrypts SIP passwords stored with calls (encryption context: callId)',
      enableKeyRotation: true,
      // Ciphertexts are only needed while their call runs.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const bus = new EventBus(this, 'Bus', { eventBusName: `${this.stackName}-calls` });
    const apiKey = new Secret(this, 'ApiKey', {
      description: 'Bearer key of the gateway API',
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
    });

    const media = new MediaTask(this, 'Media', {
      cpu: props.taskCpu ?? 256,
      memoryMiB: props.taskMemoryMiB ?? 512,
      architecture: props.taskArchitecture ?? 'ARM64',
      mediaPorts: props.mediaPorts ?? { from: 32768, to: 60999 },
      peerCidr: props.peerCidr ?? '0.0.0.0/0',
      logRetention,
      environment: { [TASK_ENV.tableName]: table.tableName, [TASK_ENV.eventBusName]: bus.eventBusName, [TASK_ENV.kmsKeyId]: passwordKey.keyArn },
    });
    const taskRole = media.taskDefinition.taskRole;
    taskRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [table.tableArn] }));
    taskRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['kms:Decrypt'], resources: [passwordKey.keyArn] }));
    taskRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['events:PutEvents'], resources: [bus.eventBusArn] }));

    // --- API ---
    const api = new GatewayFunction(this, 'ApiFunction', {
      entry: 'api-handler.ts',
      logRetention,
      timeout: Duration.seconds(29),
      memorySize: 512,
      environment: {
        [LAMBDA_ENV.tableName]: table.tableName,
        [LAMBDA_ENV.kmsKeyId]: passwordKey.keyArn,
        [LAMBDA_ENV.apiKeySecretArn]: apiKey.secretArn,
        [LAMBDA_ENV.clusterArn]: media.cluster.clusterArn,
        [LAMBDA_ENV.taskDefinitionArn]: media.taskDefinition.taskDefinitionArn,
        [LAMBDA_ENV.containerName]: media.container.containerName,
        [LAMBDA_ENV.subnetIds]: media.vpc.publicSubnets.map((s) => s.subnetId).join(','),
        [LAMBDA_ENV.securityGroupIds]: media.securityGroup.securityGroupId,
      },
    });
    api.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:Scan'],
        resources: [table.tableArn, `${table.tableArn}/index/*`],
      }),
    );
    api.addToRolePolicy(new PolicyStatement({ actions: ['kms:Encrypt', 'kms:Decrypt'], resources: [passwordKey.keyArn] }));
    api.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [apiKey.secretArn] }));
    api.addToRolePolicy(
      new PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [media.taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': media.cluster.clusterArn } },
      }),
    );
    api.addToRolePolicy(new PolicyStatement({ actions: ['ecs:StopTask'], resources: [media.taskArnPattern()] }));
    // RunTask with `tags` needs TagResource, only as part of RunTask.
    api.addToRolePolicy(
      new PolicyStatement({ actions: ['ecs:TagResource'], resources: [media.taskArnPattern()], conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } } }),
    );
    const roles = [taskRole.roleArn, media.taskDefinition.obtainExecutionRole().roleArn];
    api.addToRolePolicy(
      new PolicyStatement({ actions: ['iam:PassRole'], resources: roles, conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } } }),
    );

    const httpApi = new HttpApi(this, 'HttpApi', {
      description: 'SIP to RTMP gateway',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', api),
      createDefaultStage: false,
    });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.apiThrottle ?? { rateLimit: 10, burstLimit: 20 },
    });

    // --- state events → recorder ---
    const recorderDlq = deadLetterQueue(this, 'RecorderDlq');
    const recorder = new GatewayFunction(this, 'RecorderFunction', {
      entry: 'recorder-handler.ts',
      logRetention,
      timeout: Duration.seconds(15),
      environment: { [LAMBDA_ENV.tableName]: table.tableName },
      deadLetterQueue: recorderDlq,
    });
    // update() releases the stream-key lock item of a call that became final.
    const recordWrites = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];
    recorder.addToRolePolicy(new PolicyStatement({ actions: recordWrites, resources: [table.tableArn] }));
    new Rule(this, 'StateEventsRule', {
      eventBus: bus,
      description: 'Media task state events to the recorder',
      eventPattern: { source: [STATE_EVENT_SOURCE], detailType: [STATE_EVENT_DETAIL_TYPE] },
      targets: [new LambdaFunction(recorder, { deadLetterQueue: recorderDlq, retryAttempts: 8, maxEventAge: Duration.hours(2) })],
    });

    // --- stopped tasks → reconciler ---
    const reconcilerDlq = deadLetterQueue(this, 'ReconcilerDlq');
    const reconciler = new GatewayFunction(this, 'ReconcilerFunction', {
      entry: 'reconciler-handler.ts',
      logRetention,
      timeout: Duration.seconds(30),
      environment: { [LAMBDA_ENV.tableName]: table.tableName, [LAMBDA_ENV.finalEventGraceSeconds]: '5' },
      deadLetterQueue: reconcilerDlq,
    });
    reconciler.addToRolePolicy(new PolicyStatement({ actions: recordWrites, resources: [table.tableArn] }));
    new Rule(this, 'TaskStoppedRule', {
      description: 'Media tasks that stopped, to close calls left without a final state',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [media.cluster.clusterArn], lastStatus: ['STOPPED'] },
      },
      targets: [new LambdaFunction(reconciler, { deadLetterQueue: reconcilerDlq, retryAttempts: 8, maxEventAge: Duration.hours(2) })],
    });

    new CfnOutput(this, 'ApiUrl', { value: stage.url, description: 'Base URL of the API (WCS routes and /v1)' });
    new CfnOutput(this, 'ApiKeySecretArn', {
      value: apiKey.secretArn,
      description: 'aws secretsmanager get-secret-value --query SecretString --output text --secret-id <this>',
    });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'ClusterName', { value: media.cluster.clusterName });
    new CfnOutput(this, 'DeadLetterQueues', { value: [recorderDlq.queueName, reconcilerDlq.queueName].join(',') });
  }
}

function deadLetterQueue(scope: Construct, id: string): Queue {
  return new Queue(scope, id, { retentionPeriod: Duration.days(14), encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true });
}
