import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { HttpApi, HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LIVE_INDEX, LIVE_INDEX_PROJECTION, TASK_READABLE_ATTRIBUTES } from '../shared/aws/dynamodb-call-store.ts';
import { STATE_EVENT_DETAIL_TYPE, STATE_EVENT_SOURCE } from '../shared/aws/eventbridge-publisher.ts';
import { LAMBDA_ENV } from '../functions/aws/aws-config.ts';
import { METRIC, METRICS_DIMENSION, METRICS_NAMESPACE } from '../functions/aws/metrics.ts';
import { TASK_METRIC } from '../shared/aws/emf.ts';
import { RECORDINGS_PREFIX } from '../shared/recording-names.ts';
import { STATUS_CALLBACK_DETAIL_TYPE, STATUS_CALLBACK_SOURCE } from '../functions/aws/status-callbacks.ts';
import { SWEEP_DEFAULTS, SWEEP_ENV } from '../functions/sweep-config.ts';
import { STANDBY_ENV } from '../functions/standby-config.ts';
import { PRICING_ENV } from '../functions/pricing-config.ts';
import type { Pricing } from '../functions/core/call-usage.ts';
import { STANDBY_POOL_KEY, STANDBY_TASKS_ATTRIBUTE } from '../shared/aws/dynamodb-standby-registry.ts';
import { WEBHOOK_ENV } from '../functions/webhooks/webhook-config.ts';
import { TASK_ENV } from '../shared/task-env.ts';
import { GatewayFunction } from './gateway-function.ts';
import { DEFAULT_MEDIA_PORTS, MediaTask, type TaskArchitecture } from './media-task-construct.ts';
import { DEFAULT_RETENTION_DAYS } from '../shared/aws/dynamodb-call-store.ts';
import { RETENTION_ENV } from '../functions/retention-config.ts';

export interface GatewayStackProps extends StackProps {
  taskCpu?: number;
  taskMemoryMiB?: number;
  taskArchitecture?: TaskArchitecture;
  mediaPorts?: { from: number; to: number };
  /** Who may send SIP and RTP to tasks: IPv4 CIDRs (context `peerCidr`, comma-separated). */
  peerCidrs?: string[];
  logRetention?: RetentionDays;
  /** Days finished calls (their usage) stay in the table. */
  callRetentionDays?: number;
  /** Days a recording stays in the recordings bucket before the lifecycle rule deletes it. Default 30. */
  recordingRetentionDays?: number;
  /** Requests per second the API accepts (steady, burst): every call starts a paid Fargate task. */
  apiThrottle?: { rateLimit: number; burstLimit: number };
  /** Generate a key for `POST /webhooks/trigger` (docs/webhooks.md); off → the route answers 404. */
  genericTrigger?: boolean;
  /**
   * Complete ARN of a secret the operator created, a JSON object of the `TWILIO_*` variables (docs/twilio.md);
   * referenced, never read at synth, so the auth token stays out of the template. Absent → Twilio routes 404.
   */
  twilioSecretArn?: string;
  /** FailedCalls alarm: this many failed calls or more within 5 minutes. Default 5. */
  failedCallsAlarmThreshold?: number;
  /** Subscribes this address to the alarm topic (it must confirm); subscribe others to `AlarmTopicArn` yourself. */
  alarmEmail?: string;
  /** Media tasks kept running, idle, for the next calls (docs/aws.md has their cost); 0 turns it off. Default 1. */
  standbyTasks?: number;
  /** Prices that replace the list prices in usage estimates (context `usagePrices`, JSON). */
  usagePrices?: Partial<Pricing>;
}

/**
 * Lambda timeout of the functions that deliver status callbacks: a receiver that stays down costs 6 attempts of
 * up to 10 s plus 31 s of waits (functions/webhooks/status-notifier.ts), ~91 s per change, on top of the record
 * write and the reconciler's grace.
 */
export const CALLBACK_DELIVERY_TIMEOUT = Duration.seconds(120);

/** Days a recording is kept unless the `recordingRetentionDays` context says otherwise. */
export const DEFAULT_RECORDING_RETENTION_DAYS = 30;

/**
 * The gateway on AWS: HTTP API → API Lambda (the hono app) → DynamoDB + ECS RunTask; Fargate media tasks →
 * EventBridge bus → recorder Lambda; ECS "task stopped" events → reconciler Lambda.
 */
export class GatewayStack extends Stack {
  constructor(scope: Construct, id: string, props: GatewayStackProps = {}) {
    super(scope, id, props);
    const logRetention = props.logRetention ?? 30;
    // Every Lambda's: the `Gateway` dimension of the metrics they print (functions/aws/metrics.ts) and the alarms
    // read, and how long the final states they write keep a call (functions/retention-config.ts).
    const everyLambdaEnv = {
      [LAMBDA_ENV.gatewayName]: this.stackName,
      // Usage is priced at the task size deployed, and at the operator's prices where given.
      [PRICING_ENV]: JSON.stringify({
        ...props.usagePrices,
        taskVcpu: (props.taskCpu ?? 256) / 1024,
        taskGb: (props.taskMemoryMiB ?? 512) / 1024,
      }),
      [RETENTION_ENV]: String(props.callRetentionDays ?? DEFAULT_RETENTION_DAYS),
    };

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
    // Always there, like the API key: $0.40/month buys callbacks that work without a redeploy, and a key
    // generated by CloudFormation never appears in the template.
    const statusSigningKey = new Secret(this, 'StatusCallbackSigningKey', {
      description: 'HMAC key that signs status callbacks (docs/webhooks.md)',
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
    });
    const triggerSigningKey = props.genericTrigger
      ? new Secret(this, 'TriggerSigningKey', {
          description: 'HMAC key that callers of POST /webhooks/trigger sign with (docs/webhooks.md)',
          generateSecretString: { passwordLength: 40, excludePunctuation: true },
        })
      : undefined;
    const twilioSecret: ISecret | undefined = props.twilioSecretArn
      ? Secret.fromSecretCompleteArn(this, 'TwilioSecret', props.twilioSecretArn)
      : undefined;

    // Recordings: the task puts each under RECORDINGS_PREFIX after its call, the API signs links to them.
    const recordings = new Bucket(this, 'Recordings', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [
        {
          id: 'ExpireRecordings',
          prefix: RECORDINGS_PREFIX,
          expiration: Duration.days(props.recordingRetentionDays ?? DEFAULT_RECORDING_RETENTION_DAYS),
        },
        // A PutObject cut short leaves nothing; a multipart upload would, and none is wanted here.
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // Like the call history, recordings outlive a `cdk destroy`; docs/aws.md says how to delete them.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const media = new MediaTask(this, 'Media', {
      cpu: props.taskCpu ?? 256,
      memoryMiB: props.taskMemoryMiB ?? 512,
      architecture: props.taskArchitecture ?? 'ARM64',
      mediaPorts: props.mediaPorts ?? DEFAULT_MEDIA_PORTS,
      peerCidrs: props.peerCidrs ?? ['0.0.0.0/0'],
      logRetention,
      environment: {
        [TASK_ENV.tableName]: table.tableName,
        [TASK_ENV.eventBusName]: bus.eventBusName,
        [TASK_ENV.kmsKeyId]: passwordKey.keyArn,
        [TASK_ENV.recordingBucket]: recordings.bucketName,
        [TASK_ENV.gatewayName]: this.stackName,
      },
    });
    const taskRole = media.taskDefinition.taskRole;
    // Any item (its own call's, the pool's), but only what TASK_READABLE_ATTRIBUTES names: never a call's stored
    // password nor its task's ARN. Select keeps a request from asking for all attributes (AWS's documented pattern).
    taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem'],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...TASK_READABLE_ATTRIBUTES] },
          StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        },
      }),
    );
    // A standby task marks its own entry idle: the pool item's entries, nothing else of it or of any other item.
    taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringEquals': {
            'dynamodb:LeadingKeys': [STANDBY_POOL_KEY],
            'dynamodb:Attributes': [STANDBY_TASKS_ATTRIBUTE],
          },
        },
      }),
    );
    // Only ciphertexts bound to a call: the task's own copy, sealed for its callId (and its ARN, if a standby).
    taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [passwordKey.keyArn],
        conditions: { Null: { 'kms:EncryptionContext:callId': 'false' } },
      }),
    );
    // Only under its own source: the API's hand-offs (another source) make the recorder sign what they carry.
    taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [bus.eventBusArn],
        conditions: { StringEquals: { 'events:source': STATE_EVENT_SOURCE } },
      }),
    );

    // Its recording only, into the recordings folder: it reads, lists and deletes nothing there.
    taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [recordings.arnForObjects(`${RECORDINGS_PREFIX}*`)],
      }),
    );
    // What RunTask needs, for the API (calls' and standby tasks) and the sweeper (standby tasks).
    const launchEnv = {
      [LAMBDA_ENV.clusterArn]: media.cluster.clusterArn,
      [LAMBDA_ENV.taskDefinitionArn]: media.taskDefinition.taskDefinitionArn,
      [LAMBDA_ENV.containerName]: media.container.containerName,
      [LAMBDA_ENV.subnetIds]: media.vpc.publicSubnets.map((s) => s.subnetId).join(','),
      [LAMBDA_ENV.securityGroupIds]: media.securityGroup.securityGroupId,
      [STANDBY_ENV.tasks]: String(props.standbyTasks ?? 1),
    };
    const runTask = new PolicyStatement({
      actions: ['ecs:RunTask'],
      resources: [media.taskDefinition.taskDefinitionArn],
      conditions: { ArnEquals: { 'ecs:cluster': media.cluster.clusterArn } },
    });
    const passTaskRoles = new PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [taskRole.roleArn, media.taskDefinition.obtainExecutionRole().roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });

    // --- API ---
    const api = new GatewayFunction(this, 'ApiFunction', {
      entry: 'api-handler.ts',
      // The web console's files, which functions/console/console-routes.ts reads from beside itself.
      besideBundle: ['functions/console/web'],
      logRetention,
      timeout: Duration.seconds(29),
      memorySize: 512,
      environment: {
        [LAMBDA_ENV.tableName]: table.tableName,
        [LAMBDA_ENV.kmsKeyId]: passwordKey.keyArn,
        [LAMBDA_ENV.apiKeySecretArn]: apiKey.secretArn,
        [LAMBDA_ENV.eventBusName]: bus.eventBusName,
        [LAMBDA_ENV.statusSigningKeySecretArn]: statusSigningKey.secretArn,
        [LAMBDA_ENV.recordingBucket]: recordings.bucketName,
        ...launchEnv,
        ...everyLambdaEnv,
        ...(triggerSigningKey ? { [LAMBDA_ENV.triggerSigningKeySecretArn]: triggerSigningKey.secretArn } : {}),
        ...(twilioSecret ? { [LAMBDA_ENV.twilioSecretArn]: twilioSecret.secretArn } : {}),
      },
    });
    api.addToRolePolicy(
      new PolicyStatement({
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
          'dynamodb:Scan',
          // A key's limit full: the calls holding it are read at once, to free the slots of ended ones.
          'dynamodb:BatchGetItem',
        ],
        resources: [table.tableArn, `${table.tableArn}/index/*`],
      }),
    );
    api.addToRolePolicy(
      new PolicyStatement({ actions: ['kms:Encrypt', 'kms:Decrypt'], resources: [passwordKey.keyArn] }),
    );
    // The pre-signed links to recordings carry the API's signature: GetObject is what a link may do.
    api.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [recordings.arnForObjects(`${RECORDINGS_PREFIX}*`)],
      }),
    );
    const apiSecrets = [apiKey, statusSigningKey, triggerSigningKey, twilioSecret].filter(
      (secret) => secret !== undefined,
    );
    api.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: apiSecrets.map((secret) => secret.secretArn),
      }),
    );
    // The dialing and launch-failure callbacks, handed to the recorder (functions/aws/status-callbacks.ts).
    api.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [bus.eventBusArn],
        conditions: { StringEquals: { 'events:source': STATUS_CALLBACK_SOURCE } },
      }),
    );
    api.addToRolePolicy(runTask);
    api.addToRolePolicy(new PolicyStatement({ actions: ['ecs:StopTask'], resources: [media.taskArnPattern()] }));
    // RunTask with `tags` needs TagResource, only as part of RunTask.
    api.addToRolePolicy(
      new PolicyStatement({
        actions: ['ecs:TagResource'],
        resources: [media.taskArnPattern()],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      }),
    );
    api.addToRolePolicy(passTaskRoles);

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
    // Twilio signs the URL it called; the function sees it only as rebuilt from headers. No cycle: the API
    // reaches the function through the integration only, the function's variable needs the API's id only.
    if (twilioSecret) api.addEnvironment(WEBHOOK_ENV.publicBaseUrl, stage.url);

    // --- state events → recorder ---
    const recorderDlq = deadLetterQueue(this, 'RecorderDlq');
    const recorder = new GatewayFunction(this, 'RecorderFunction', {
      entry: 'recorder-handler.ts',
      logRetention,
      timeout: CALLBACK_DELIVERY_TIMEOUT,
      environment: {
        [LAMBDA_ENV.tableName]: table.tableName,
        [LAMBDA_ENV.statusSigningKeySecretArn]: statusSigningKey.secretArn,
        ...everyLambdaEnv,
      },
      deadLetterQueue: recorderDlq,
    });
    // update() releases the stream-key lock item of a call that became final.
    const recordWrites = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];
    recorder.addToRolePolicy(new PolicyStatement({ actions: recordWrites, resources: [table.tableArn] }));
    const readStatusKey = new PolicyStatement({
      actions: ['secretsmanager:GetSecretValue'],
      resources: [statusSigningKey.secretArn],
    });
    recorder.addToRolePolicy(readStatusKey);
    new Rule(this, 'StateEventsRule', {
      eventBus: bus,
      description: 'Media task state events to the recorder',
      eventPattern: { source: [STATE_EVENT_SOURCE], detailType: [STATE_EVENT_DETAIL_TYPE] },
      targets: [
        new LambdaFunction(recorder, {
          deadLetterQueue: recorderDlq,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
    new Rule(this, 'StatusCallbacksRule', {
      eventBus: bus,
      description: 'State changes the API made (dialing, launch failure), to the recorder for their status callbacks',
      eventPattern: { source: [STATUS_CALLBACK_SOURCE], detailType: [STATUS_CALLBACK_DETAIL_TYPE] },
      targets: [
        new LambdaFunction(recorder, {
          deadLetterQueue: recorderDlq,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });

    // --- stopped tasks → reconciler ---
    const reconcilerDlq = deadLetterQueue(this, 'ReconcilerDlq');
    const reconciler = new GatewayFunction(this, 'ReconcilerFunction', {
      entry: 'reconciler-handler.ts',
      logRetention,
      timeout: CALLBACK_DELIVERY_TIMEOUT,
      environment: {
        [LAMBDA_ENV.tableName]: table.tableName,
        [LAMBDA_ENV.finalEventGraceSeconds]: '5',
        [LAMBDA_ENV.statusSigningKeySecretArn]: statusSigningKey.secretArn,
        ...everyLambdaEnv,
      },
      deadLetterQueue: reconcilerDlq,
    });
    reconciler.addToRolePolicy(new PolicyStatement({ actions: recordWrites, resources: [table.tableArn] }));
    reconciler.addToRolePolicy(readStatusKey);
    new Rule(this, 'TaskStoppedRule', {
      description: 'Media tasks that stopped, to close calls left without a final state',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [media.cluster.clusterArn], lastStatus: ['STOPPED'] },
      },
      targets: [
        new LambdaFunction(reconciler, {
          deadLetterQueue: reconcilerDlq,
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });

    // --- every minute → sweeper: calls whose task never started, vanished, or hung past its limit ---
    const sweeper = new GatewayFunction(this, 'SweeperFunction', {
      entry: 'sweeper-handler.ts',
      logRetention,
      timeout: CALLBACK_DELIVERY_TIMEOUT,
      environment: {
        [LAMBDA_ENV.tableName]: table.tableName,
        [LAMBDA_ENV.statusSigningKeySecretArn]: statusSigningKey.secretArn,
        ...launchEnv,
        [SWEEP_ENV.launchGraceSeconds]: String(SWEEP_DEFAULTS.launchGraceSeconds),
        [SWEEP_ENV.stoppedGraceSeconds]: String(SWEEP_DEFAULTS.stoppedGraceSeconds),
        [SWEEP_ENV.limitGraceSeconds]: String(SWEEP_DEFAULTS.limitGraceSeconds),
        ...everyLambdaEnv,
      },
    });
    sweeper.addToRolePolicy(new PolicyStatement({ actions: recordWrites, resources: [table.tableArn] }));
    // Live calls come from the live index: a Query of the live calls, never a Scan of the history.
    sweeper.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/${LIVE_INDEX}`] }),
    );
    sweeper.addToRolePolicy(
      new PolicyStatement({
        actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
        resources: [media.taskArnPattern()],
        conditions: { ArnEquals: { 'ecs:cluster': media.cluster.clusterArn } },
      }),
    );
    sweeper.addToRolePolicy(readStatusKey);
    // It keeps the standby pool: starts tasks for it (stops and looks them up as above).
    sweeper.addToRolePolicy(runTask);
    sweeper.addToRolePolicy(passTaskRoles);
    new Rule(this, 'SweepScheduleRule', {
      description:
        'Every minute: close calls whose media task never started, vanished or hung past its limit; keep the standby pool',
      schedule: Schedule.rate(Duration.minutes(1)),
      // A missed sweep is made up by the next one, a minute later: no retries, no DLQ.
      targets: [new LambdaFunction(sweeper, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    // --- alarms → one topic ---
    const alarmTopic = new Topic(this, 'AlarmTopic', { displayName: `${this.stackName} alarms`, enforceSSL: true });
    if (props.alarmEmail) alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    const notify = new SnsAction(alarmTopic);
    const gatewayMetric = (metricName: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [METRICS_DIMENSION]: this.stackName },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    const deadLetterQueues: [id: string, queue: Queue, consumer: string][] = [
      ['RecorderDlqAlarm', recorderDlq, 'recorder'],
      ['ReconcilerDlqAlarm', reconcilerDlq, 'reconciler'],
    ];
    const alarms = [
      ...deadLetterQueues.map(
        ([id, queue, consumer]) =>
          new Alarm(this, id, {
            alarmDescription: `Events the ${consumer} could not process are in its dead-letter queue (docs/aws.md: inspect with aws sqs receive-message)`,
            metric: queue.metricApproximateNumberOfMessagesVisible({
              period: Duration.minutes(5),
              statistic: 'Maximum',
            }),
            threshold: 1,
            evaluationPeriods: 1,
            comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treatMissingData: TreatMissingData.NOT_BREACHING,
          }),
      ),
      new Alarm(this, 'StuckCallsAlarm', {
        alarmDescription:
          'The sweeper closed calls nothing else closed: a task never started, vanished, or hung past its limit',
        metric: gatewayMetric(METRIC.stuckCalls),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'FailedCallsAlarm', {
        alarmDescription:
          "Many calls failed within 5 minutes (SIP, auth, RTMP, crashes, launches): see the calls' failure reasons",
        metric: gatewayMetric(METRIC.failedCalls),
        threshold: props.failedCallsAlarmThreshold ?? 5,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      // Without the sweeper nothing frees stream keys held by stuck calls.
      new Alarm(this, 'SweeperErrorsAlarm', {
        alarmDescription: 'The sweeper Lambda failed in 3 consecutive 5-minute periods',
        metric: sweeper.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 3,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) alarm.addAlarmAction(notify);

    // One page for the operator: the alarms' state, the calls, and the Lambdas that carry them.
    const dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `${this.stackName}-broadcasts` });
    dashboard.addWidgets(
      new AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 3 }),
      new GraphWidget({
        title: 'Calls (per 5 min)',
        left: [
          gatewayMetric(METRIC.liveCalls).with({ statistic: 'Maximum', label: 'live (sweeper)' }),
          gatewayMetric(METRIC.failedCalls),
          gatewayMetric(METRIC.stuckCalls),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'Media (per 5 min)',
        left: [TASK_METRIC.rtpLost, TASK_METRIC.reconnects, TASK_METRIC.encoderRestarts].map((name) =>
          gatewayMetric(name),
        ),
        right: [gatewayMetric(TASK_METRIC.jitter).with({ statistic: 'Maximum', label: 'RTP jitter (ms, max)' })],
        width: 12,
      }),
      new GraphWidget({
        title: 'Bytes (per 5 min)',
        left: [TASK_METRIC.bytesOut, TASK_METRIC.recordingBytes].map((name) => gatewayMetric(name)),
        width: 12,
      }),
      new GraphWidget({
        title: 'Lambda errors',
        left: [api, recorder, reconciler, sweeper].map((fn) =>
          fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum', label: fn.node.id }),
        ),
        width: 12,
      }),
    );

    new CfnOutput(this, 'ApiUrl', { value: stage.url, description: 'Base URL of the API (WCS routes and /v1)' });
    new CfnOutput(this, 'ApiKeySecretArn', {
      value: apiKey.secretArn,
      description: 'aws secretsmanager get-secret-value --query SecretString --output text --secret-id <this>',
    });
    new CfnOutput(this, 'StatusCallbackSigningKeySecretArn', {
      value: statusSigningKey.secretArn,
      description: 'Key your receivers verify status callbacks with',
    });
    if (triggerSigningKey)
      new CfnOutput(this, 'TriggerSigningKeySecretArn', {
        value: triggerSigningKey.secretArn,
        description: 'Key POST /webhooks/trigger callers sign with',
      });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'RecordingsBucketName', { value: recordings.bucketName });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'ClusterName', { value: media.cluster.clusterName });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: alarmTopic.topicArn,
      description:
        'Subscribe to get the alarms: aws sns subscribe --protocol email --notification-endpoint you@example.com --topic-arn <this>',
    });
    new CfnOutput(this, 'DeadLetterQueues', { value: [recorderDlq.queueName, reconcilerDlq.queueName].join(',') });
  }
}

function deadLetterQueue(scope: Construct, id: string): Queue {
  return new Queue(scope, id, {
    retentionPeriod: Duration.days(14),
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
}
