import { readFileSync } from 'node:fs';

/**
 * How node runs the media task, here and in the Dockerfile's ENTRYPOINT (a test holds them equal). A call's
 * JavaScript is a thin loop around sockets: TurboFan's optimised code, a young generation grown to 16 MiB and
 * GC helper threads cost ~10 MiB of RSS a task (61 → 51 MiB measured) and bought no CPU anyone could measure.
 */
export const NODE_FLAGS = ['--no-opt', '--max-semi-space-size=1', '--single-threaded-gc'] as const;

/** The RTP relay's executable, next to the bundle's entry module (bundle.ts builds both). */
export const RELAY_FILE = 'rtp-relay';
/** The task's own ffmpeg (ffmpeg/build.sh), next to the bundle's entry module too, unless FFMPEG_PATH names another. */
export const FFMPEG_FILE = 'ffmpeg';

/** Environment variable names of the media task, defined once: the local launcher and the CDK stack use them too. */
export const TASK_ENV = {
  /** The call spec as JSON (local mode). */
  callSpec: 'CALL_SPEC',
  /** A path to a file holding the call spec as JSON. */
  callSpecFile: 'CALL_SPEC_FILE',
  /** Address advertised in SIP Contact and SDP; defaults to the bind address. */
  publicAddress: 'PUBLIC_ADDRESS',
  /** Local interface for SIP and RTP sockets. */
  bindAddress: 'BIND_ADDRESS',
  /** `stdout` (local) — where state events go. */
  eventSink: 'EVENT_SINK',
  ffmpegPath: 'FFMPEG_PATH',
  /** CA certificates (PEM) that RTMPS servers' certificates are checked against; default: the system's. */
  rtmpsCaFile: 'RTMPS_CA_FILE',
  /** How long the callee may ring before we CANCEL (default 60). */
  inviteTimeoutSeconds: 'INVITE_TIMEOUT_SECONDS',
  /** AWS: the call to run; its spec and KMS-encrypted password are read from TABLE_NAME (instead of CALL_SPEC). */
  callId: 'CALL_ID',
  tableName: 'TABLE_NAME',
  /** AWS: the KMS key that encrypted the SIP password. */
  kmsKeyId: 'KMS_KEY_ID',
  /** AWS: the custom bus state events go to when EVENT_SINK is `eventbridge`. */
  eventBusName: 'EVENT_BUS_NAME',
  /** Set by ECS in every container; without PUBLIC_ADDRESS the task asks EC2 for its ENI's public IP. */
  ecsMetadataUri: 'ECS_CONTAINER_METADATA_URI_V4',
  /**
   * `<first>-<last>`: the ports the task's SIP socket and RTP/RTCP pairs bind to, so that a firewall (the AWS
   * security group) need open no more. Unset: ports the OS picks.
   */
  mediaPorts: 'MEDIA_PORTS',
} as const;

/** A call binds one SIP port and two RTP/RTCP pairs; a range this small still leaves each a few tries. */
export const MIN_MEDIA_PORTS = 8;

export interface PortRange {
  /** Inclusive. */
  min: number;
  max: number;
}

/** `20000-20999` → { min: 20000, max: 20999 }; undefined when it is not a range of at least MIN_MEDIA_PORTS above 1023. */
export function parsePortRange(text: string): PortRange | undefined {
  const match = /^(\d{4,5})-(\d{4,5})$/.exec(text.trim());
  if (!match) return undefined;
  const [min, max] = [Number(match[1]), Number(match[2])];
  return min >= 1024 && max <= 65535 && max - min + 1 >= MIN_MEDIA_PORTS ? { min, max } : undefined;
}

export function formatPortRange(range: PortRange): string {
  return `${range.min}-${range.max}`;
}

export interface TaskConfig {
  rawSpec: unknown;
  /** AWS mode (CALL_ID set): where the spec is read from, instead of rawSpec. */
  stored?: { callId: string; tableName: string; kmsKeyId: string };
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
}

export class TaskConfigError extends Error {
  override name = 'TaskConfigError';
}

/** Reads the environment once and fails fast naming the variable that is missing or wrong. */
export function readTaskConfig(env: NodeJS.ProcessEnv = process.env): TaskConfig {
  const inline = env[TASK_ENV.callSpec];
  const file = env[TASK_ENV.callSpecFile];
  const stored = readStoredSource(env);
  if (!inline && !file && !stored) throw new TaskConfigError(`set ${TASK_ENV.callSpec}, ${TASK_ENV.callSpecFile} or ${TASK_ENV.callId}`);
  let rawSpec: unknown;
  try {
    if (!stored) rawSpec = JSON.parse(inline ?? readFileSync(file as string, 'utf8'));
  } catch (error) {
    throw new TaskConfigError(`${inline ? TASK_ENV.callSpec : TASK_ENV.callSpecFile} is not readable JSON: ${(error as Error).message}`);
  }
  const sink = env[TASK_ENV.eventSink] ?? 'stdout';
  if (sink !== 'stdout' && sink !== 'eventbridge') {
    throw new TaskConfigError(`${TASK_ENV.eventSink} must be "stdout" or "eventbridge", not ${JSON.stringify(sink)}`);
  }
  const eventBusName = env[TASK_ENV.eventBusName] || undefined;
  if (sink === 'eventbridge' && !eventBusName) throw new TaskConfigError(`${TASK_ENV.eventBusName} is required with ${TASK_ENV.eventSink}=eventbridge`);
  const bindAddress = env[TASK_ENV.bindAddress] ?? '0.0.0.0';
  const inviteTimeoutSeconds = Number(env[TASK_ENV.inviteTimeoutSeconds] ?? 60);
  if (!(inviteTimeoutSeconds > 0 && inviteTimeoutSeconds <= 600)) {
    throw new TaskConfigError(`${TASK_ENV.inviteTimeoutSeconds} must be a number of seconds from 1 to 600`);
  }
  const portsText = env[TASK_ENV.mediaPorts];
  const mediaPorts = portsText ? parsePortRange(portsText) : undefined;
  if (portsText && !mediaPorts) {
    throw new TaskConfigError(`${TASK_ENV.mediaPorts} must be <first>-<last>, at least ${MIN_MEDIA_PORTS} ports within 1024–65535, not ${JSON.stringify(portsText)}`);
  }
  return {
    rawSpec,
    ...(stored ? { stored } : {}),
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
  };
}

/** CALL_ID mode needs the table and the key too; a partial set is a deployment mistake worth naming. */
function readStoredSource(env: NodeJS.ProcessEnv): TaskConfig['stored'] {
  const callId = env[TASK_ENV.callId];
  if (!callId) return undefined;
  const tableName = env[TASK_ENV.tableName];
  const kmsKeyId = env[TASK_ENV.kmsKeyId];
  if (!tableName) throw new TaskConfigError(`${TASK_ENV.tableName} is required with ${TASK_ENV.callId}`);
  if (!kmsKeyId) throw new TaskConfigError(`${TASK_ENV.kmsKeyId} is required with ${TASK_ENV.callId}`);
  return { callId, tableName, kmsKeyId };
}

/** Whether the task runs against AWS services; only then are the AWS SDK clients loaded (tens of MB per task). */
export function needsAwsMode(config: TaskConfig): boolean {
  return config.stored !== undefined || config.eventSink === 'eventbridge' || config.ecsMetadataUri !== undefined;
}
