import { readFileSync } from 'node:fs';

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
  /** How long the callee may ring before we CANCEL (default 60). */
  inviteTimeoutSeconds: 'INVITE_TIMEOUT_SECONDS',
} as const;

export interface TaskConfig {
  rawSpec: unknown;
  bindAddress: string;
  publicAddress: string;
  eventSink: 'stdout';
  ffmpegPath?: string;
  inviteTimeoutMs: number;
}

export class TaskConfigError extends Error {
  override name = 'TaskConfigError';
}

/** Reads the environment once and fails fast naming the variable that is missing or wrong. */
export function readTaskConfig(env: NodeJS.ProcessEnv = process.env): TaskConfig {
  const inline = env[TASK_ENV.callSpec];
  const file = env[TASK_ENV.callSpecFile];
  if (!inline && !file) throw new TaskConfigError(`set ${TASK_ENV.callSpec} or ${TASK_ENV.callSpecFile}`);
  let rawSpec: unknown;
  try {
    rawSpec = JSON.parse(inline ?? readFileSync(file as string, 'utf8'));
  } catch (error) {
    throw new TaskConfigError(`${inline ? TASK_ENV.callSpec : TASK_ENV.callSpecFile} is not readable JSON: ${(error as Error).message}`);
  }
  const sink = env[TASK_ENV.eventSink] ?? 'stdout';
  if (sink !== 'stdout') throw new TaskConfigError(`${TASK_ENV.eventSink} must be "stdout", not ${JSON.stringify(sink)}`);
  const bindAddress = env[TASK_ENV.bindAddress] ?? '0.0.0.0';
  const inviteTimeoutSeconds = Number(env[TASK_ENV.inviteTimeoutSeconds] ?? 60);
  if (!(inviteTimeoutSeconds > 0 && inviteTimeoutSeconds <= 600)) {
    throw new TaskConfigError(`${TASK_ENV.inviteTimeoutSeconds} must be a number of seconds from 1 to 600`);
  }
  return {
    rawSpec,
    bindAddress,
    publicAddress: env[TASK_ENV.publicAddress] ?? (bindAddress === '0.0.0.0' ? '127.0.0.1' : bindAddress),
    eventSink: sink,
    ffmpegPath: env[TASK_ENV.ffmpegPath] || undefined,
    inviteTimeoutMs: inviteTimeoutSeconds * 1000,
  };
}
