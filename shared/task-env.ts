/**
 * What starts a media task needs to agree on with the task itself: its environment variables' names and the
 * flags node runs it with. The local launcher, the ECS launcher and the CDK stack use them; the task reads them
 * (media-task/config.ts).
 */

/**
 * How node runs the media task: the local launcher passes them, the Dockerfile's ENTRYPOINT repeats them (a test
 * holds them equal). A call's JavaScript is a thin loop around sockets: TurboFan's optimised code, a grown young
 * generation and GC helper threads cost RSS on every task and bought no CPU (BENCHMARKS.md has the figures).
 */
export const NODE_FLAGS = ['--no-opt', '--max-semi-space-size=1', '--single-threaded-gc'] as const;

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
  /**
   * `1`: a standby task, started before its call (shared/standby-registry.ts). Locally the spec then comes as an
   * `assign` line on stdin; on AWS (TABLE_NAME set) the pool item names the call, read as CALL_ID's would be.
   */
  standby: 'STANDBY',
  /** AWS, with CALL_ID: the call's SIP password, sealed with KMS (encryption context: the callId). */
  callSecret: 'CALL_SECRET',
  tableName: 'TABLE_NAME',
  /** AWS: the KMS key that encrypted the SIP password. */
  kmsKeyId: 'KMS_KEY_ID',
  /** AWS: the custom bus state events go to when EVENT_SINK is `eventbridge`. */
  eventBusName: 'EVENT_BUS_NAME',
  /** Set by ECS in every container; without PUBLIC_ADDRESS the task asks EC2 for its ENI's public IP. */
  ecsMetadataUri: 'ECS_CONTAINER_METADATA_URI_V4',
  /** Local: the folder recordings are written to (`<recordingId>.mp4`), the server's DATA_DIR/recordings. */
  recordingDir: 'RECORDING_DIR',
  /** AWS: the stack's bucket a recording is uploaded to after its call (under shared/recording-names.ts's prefix). */
  recordingBucket: 'RECORDING_BUCKET',
  /** AWS: the `Gateway` dimension of the task's metrics, as the Lambdas' (functions/aws/aws-config.ts). */
  gatewayName: 'GATEWAY_NAME',
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
