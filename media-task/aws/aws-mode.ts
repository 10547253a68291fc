/**
 * What the media task does differently on AWS, composed in one place for main.ts: the spec comes from DynamoDB by
 * CALL_ID, or by the callId the standby pool assigns (password decrypted with KMS), events go to EventBridge, the
 * public address is discovered from ECS metadata + EC2, a watcher polls the call's item for hang-up and DTMF, and
 * a recording is uploaded to the stack's bucket after the call.
 * Each part is used only when its variables are set, so local mode creates no AWS client at all.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { DynamoDbCallStore, TASK_READABLE_FIELDS } from '../../shared/aws/dynamodb-call-store.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { DynamoDbCommandMailbox } from '../../shared/aws/dynamodb-command-mailbox.ts';
import { DynamoDbStandbyRegistry } from '../../shared/aws/dynamodb-standby-registry.ts';
import { EventBridgePublisher } from '../../shared/aws/eventbridge-publisher.ts';
import { KmsSecretCipher } from '../../shared/aws/kms-secret-cipher.ts';
import { S3Bucket } from '../../shared/aws/s3-bucket.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import { needsAwsMode, type TaskConfig } from '../config.ts';
import type { EventSink } from '../events/event-reporter.ts';
import { eventBridgeEventSink } from '../events/eventbridge-event-sink.ts';
import type { Logger } from '../../shared/log.ts';
import { discoverPublicAddress, readTaskMetadata } from './public-address.ts';
import type { KeepRecording } from '../pipeline/recorder.ts';
import { RecordWatcher, type WatchedCall } from './record-watcher.ts';
import { uploadRecording } from './recording-upload.ts';
import { waitForPoolAssignment } from '../standby/pool-assignment.ts';
import { loadStoredSpec } from './stored-spec.ts';

export interface AwsMode {
  sink?: EventSink;
  publicAddress?: string;
  /**
   * With TABLE_NAME: the call this task runs, CALL_ID's or (standby) the one the pool assigns; undefined when a
   * standby is dismissed or `signal` aborts before it gets one.
   */
  takeCall?: (signal: AbortSignal) => Promise<StoredCall | undefined>;
  /** With RECORDING_BUCKET: uploads a closed recording there. */
  keepRecording?: KeepRecording;
}

export interface StoredCall {
  spec: CallSpec;
  /** Starts watching the call's item; returns the function that stops it. */
  watch: (call: WatchedCall) => () => void;
}

/** Undefined when no AWS variable is set (local mode). */
export async function prepareAwsMode(config: TaskConfig, logger: Logger): Promise<AwsMode | undefined> {
  if (!needsAwsMode(config)) return undefined;
  const mode: AwsMode = {};
  const metadata = config.ecsMetadataUri ? await readTaskMetadata(config.ecsMetadataUri) : undefined;
  if (config.eventSink === 'eventbridge' && config.eventBusName) {
    // Each event names the task that sent it: the recorder takes a call's events from its own task only.
    const taskArn = metadata?.taskArn;
    mode.sink = eventBridgeEventSink(
      new EventBridgePublisher({
        client: new EventBridgeClient({}),
        eventBusName: config.eventBusName,
        ...(taskArn ? { taskArn } : {}),
      }),
    );
  }
  if (metadata && !config.publicAddressGiven) {
    const { privateAddress, publicAddress } = await discoverPublicAddress({ metadata, ec2: new EC2Client({}) });
    logger.info('public address discovered', { privateAddress, publicAddress });
    mode.publicAddress = publicAddress;
  }
  if (config.recordingBucket) {
    const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
    if (!region) throw new Error('uploading recordings needs AWS_REGION, which ECS sets');
    const bucket = new S3Bucket({
      bucket: config.recordingBucket,
      region,
      credentials: defaultProvider(),
      endpoint: process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined,
    });
    mode.keepRecording = uploadRecording(bucket, logger.child({ component: 'recording' }));
  }
  if (config.table) {
    const { tableName, kmsKeyId } = config.table;
    const client = new DynamoDBClient({});
    // What the task role may read of a record (its password is not among it: it comes sealed, below).
    const store = new DynamoDbCallStore({ client, tableName, fields: TASK_READABLE_FIELDS });
    const cipher = new KmsSecretCipher({ kms: new KMSClient({}), keyId: kmsKeyId });
    const mailbox = new DynamoDbCommandMailbox({ client, tableName });
    const load = async (callId: string, sealed: string, taskRef?: string): Promise<StoredCall> => ({
      spec: await loadStoredSpec(store, callId, cipher.decrypt(sealed, callId, taskRef)),
      watch: (call) => {
        const watcher = new RecordWatcher({ callId, store, mailbox, call, logger });
        watcher.start();
        return () => watcher.stop();
      },
    });
    const { callId, callSecret } = config;
    if (callId) {
      if (!callSecret) throw new Error(`${TASK_ENV.callSecret} is required with ${TASK_ENV.callId}`);
      mode.takeCall = () => load(callId, callSecret);
    } else {
      const taskRef = metadata?.taskArn;
      if (!taskRef) throw new Error('a standby task on AWS needs its task ARN from ECS metadata');
      const registry = new DynamoDbStandbyRegistry({ client, tableName });
      mode.takeCall = async (signal) => {
        const assigned = await waitForPoolAssignment({ registry, taskRef, logger, signal });
        // Sealed for this task's ARN: a copy meant for another task does not decrypt here.
        return assigned && load(assigned.callId, assigned.sealed, taskRef);
      };
    }
  }
  return mode;
}
