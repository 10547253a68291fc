import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute } from 'node:path';
import { MIN_MEDIA_PORTS, parsePortRange, TASK_ENV, type PortRange } from '../shared/task-env.ts';

/** The RTP relay's executable, next to the bundle's entry module (bundle.ts builds both). */
export const RELAY_FILE = 'rtp-relay';
/** The task's own ffmpeg (ffmpeg/build.sh), next to the bundle's entry module too, unless FFMPEG_PATH names another. */
export const FFMPEG_FILE = 'ffmpeg';

export interface TaskConfig {
  /** CALL_SPEC or CALL_SPEC_FILE, unparsed. */
  rawSpec: unknown;
  /** AWS: the call to run (CALL_ID), read from `table` instead of rawSpec. */
  callId?: string;
  /** AWS, with callId: its SIP password, sealed with KMS (CALL_SECRET). */
  callSecret?: string;
  /** Started before its call: the call is assigned later (stdin locally, the pool item on AWS). */
  standby: boolean;
  /** AWS: where calls (specs, encrypted passwords) and the standby pool are read. */
  table?: { tableName: string; kmsKeyId: string };
  bindAddress: string;
  publicAddress: string;
  eventSink: 'stdout' | 'eventbridge';
  eventBusName?: string;
  /** On ECS: where the task reads its ARN, and its ENI when the public address must be discovered. */
  ecsMetadataUri?: string;
  /** PUBLIC_ADDRESS was given: nothing to discover. */
  publicAddressGiven: boolean;
  ffmpegPath?: string;
  rtmpsCaFile?: string;
  inviteTimeoutMs: number;
  mediaPorts?: PortRange;
  /** Where recordings are written: RECORDING_DIR, or on AWS (RECORDING_BUCKET) the scratch folder they go up from. */
  recordingDir?: string;
  /** AWS: the bucket recordings are uploaded to after the call. */
  recordingBucket?: string;
  /** AWS: the `Gateway` dimension of the task's metrics. */
  gatewayName: string;
}

export class TaskConfigError extends Error {
  override name = 'TaskConfigError';
}

/** Reads the environment once and fails fast naming the variable that is missing or wrong. */
export function readTaskConfig(env: NodeJS.ProcessEnv = process.env): TaskConfig {
  const inline = env[TASK_ENV.callSpec];
  const file = env[TASK_ENV.callSpecFile];
  const callId = env[TASK_ENV.callId] || undefined;
  const standby = env[TASK_ENV.standby] === '1';
  const sources = [inline, file, callId, standby || undefined].filter(Boolean).length;
  if (sources !== 1) {
    throw new TaskConfigError(
      `set one of ${TASK_ENV.callSpec}, ${TASK_ENV.callSpecFile}, ${TASK_ENV.callId} or ${TASK_ENV.standby}=1`,
    );
  }
  const table = readTable(env, callId);
  let rawSpec: unknown;
  try {
    if (inline || file) rawSpec = JSON.parse(inline ?? readFileSync(file as string, 'utf8'));
  } catch (error) {
    throw new TaskConfigError(
      `${inline ? TASK_ENV.callSpec : TASK_ENV.callSpecFile} is not readable JSON: ${(error as Error).message}`,
    );
  }
  const sink = env[TASK_ENV.eventSink] ?? 'stdout';
  if (sink !== 'stdout' && sink !== 'eventbridge') {
    throw new TaskConfigError(`${TASK_ENV.eventSink} must be "stdout" or "eventbridge", not ${JSON.stringify(sink)}`);
  }
  const eventBusName = env[TASK_ENV.eventBusName] || undefined;
  if (sink === 'eventbridge' && !eventBusName)
    throw new TaskConfigError(`${TASK_ENV.eventBusName} is required with ${TASK_ENV.eventSink}=eventbridge`);
  const bindAddress = env[TASK_ENV.bindAddress] ?? '0.0.0.0';
  const inviteTimeoutSeconds = Number(env[TASK_ENV.inviteTimeoutSeconds] ?? 60);
  if (!(inviteTimeoutSeconds > 0 && inviteTimeoutSeconds <= 600)) {
    throw new TaskConfigError(`${TASK_ENV.inviteTimeoutSeconds} must be a number of seconds from 1 to 600`);
  }
  const portsText = env[TASK_ENV.mediaPorts];
  const mediaPorts = portsText ? parsePortRange(portsText) : undefined;
  if (portsText && !mediaPorts) {
    throw new TaskConfigError(
      `${TASK_ENV.mediaPorts} must be <first>-<last>, at least ${MIN_MEDIA_PORTS} ports within 1024–65535, not ${JSON.stringify(portsText)}`,
    );
  }
  const recordingBucket = env[TASK_ENV.recordingBucket] || undefined;
  const recordingDir = env[TASK_ENV.recordingDir] || (recordingBucket ? tmpdir() : undefined);
  if (recordingDir && !isAbsolute(recordingDir))
    throw new TaskConfigError(`${TASK_ENV.recordingDir} must be an absolute path, not ${JSON.stringify(recordingDir)}`);
  return {
    rawSpec,
    ...(callId ? { callId } : {}),
    ...(env[TASK_ENV.callSecret] ? { callSecret: env[TASK_ENV.callSecret] } : {}),
    standby,
    ...(table ? { table } : {}),
    bindAddress,
    publicAddress: env[TASK_ENV.publicAddress] ?? (bindAddress === '0.0.0.0' ? '127.0.0.1' : bindAddress),
    eventSink: sink,
    ...(eventBusName ? { eventBusName } : {}),
    ...(env[TASK_ENV.ecsMetadataUri] ? { ecsMetadataUri: env[TASK_ENV.ecsMetadataUri] } : {}),
    publicAddressGiven: env[TASK_ENV.publicAddress] !== undefined,
    ffmpegPath: env[TASK_ENV.ffmpegPath] || undefined,
    rtmpsCaFile: env[TASK_ENV.rtmpsCaFile] || undefined,
    inviteTimeoutMs: inviteTimeoutSeconds * 1000,
    ...(mediaPorts ? { mediaPorts } : {}),
    ...(recordingDir ? { recordingDir } : {}),
    ...(recordingBucket ? { recordingBucket } : {}),
    gatewayName: env[TASK_ENV.gatewayName] || 'default',
  };
}

/** CALL_ID mode needs the table and the key; so does a standby given either. A partial set is a deployment mistake. */
function readTable(env: NodeJS.ProcessEnv, callId: string | undefined): TaskConfig['table'] {
  const tableName = env[TASK_ENV.tableName];
  const kmsKeyId = env[TASK_ENV.kmsKeyId];
  if (!callId && !tableName && !kmsKeyId) return undefined;
  const needs = callId ? TASK_ENV.callId : tableName ? TASK_ENV.tableName : TASK_ENV.kmsKeyId;
  if (!tableName) throw new TaskConfigError(`${TASK_ENV.tableName} is required with ${needs}`);
  if (!kmsKeyId) throw new TaskConfigError(`${TASK_ENV.kmsKeyId} is required with ${needs}`);
  return { tableName, kmsKeyId };
}

/** Whether the task runs against AWS services; only then are the AWS SDK clients loaded (tens of MB per task). */
export function needsAwsMode(config: TaskConfig): boolean {
  return (
    config.table !== undefined ||
    config.eventSink === 'eventbridge' ||
    config.ecsMetadataUri !== undefined ||
    config.recordingBucket !== undefined
  );
}
