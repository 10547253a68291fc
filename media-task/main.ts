/**
 * The media task's entry point: the same program runs as the Fargate task on AWS and as a child process of the
 * local server. It runs one call and exits 0 once the call has a final state (also after SIGTERM, which is what
 * ECS StopTask and the local launcher send to hang up, and locally after stdin closes: the server is gone).
 * A standby task (STANDBY=1) starts the same way, then waits for its call; dismissed before one, it exits 0.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseCallSpec } from '../shared/call-spec-schema.ts';
import type { CallSpec } from '../shared/call-types.ts';
import { STANDBY_READY } from '../shared/task-messages.ts';
import { CallRunner, type TaskFigures } from './call-runner.ts';
import { TaskMetrics } from './metrics/task-metrics.ts';
import { keepInPlace } from './pipeline/recorder.ts';
import type { AwsMode, StoredCall } from './aws/aws-mode.ts';
import { StdinChannel } from './stdin-channel.ts';
import { bindCallEndpoints, closeCallEndpoints } from './rtp/call-endpoints.ts';
import { TASK_ENV } from '../shared/task-env.ts';
import { FFMPEG_FILE, needsAwsMode, readTaskConfig, RELAY_FILE, type TaskConfig } from './config.ts';
import { EventReporter, stdoutEventSink } from './events/event-reporter.ts';
import { createLogger } from '../shared/log.ts';

/** ECS waits 120 s between SIGTERM and SIGKILL (infra); we promise 10 s, BYE and ffmpeg's trailer included. */
const SHUTDOWN_DEADLINE_MS = 10_000;
/** After a SIGTERM, the recording's upload has this long once the call is over: the rest of ECS's wait. */
const UPLOAD_DEADLINE_MS = 100_000;

async function main(): Promise<number> {
  let logger = createLogger({ component: 'media-task' });
  const config = readTaskConfig();
  // Children (ffmpeg) inherit the environment; the spec holds the SIP password, so it leaves it once read.
  delete process.env[TASK_ENV.callSpec];
  delete process.env[TASK_ENV.callSecret];
  // Loaded only on AWS: the SDK clients would add tens of MB to every local task.
  const aws = needsAwsMode(config)
    ? await (await import('./aws/aws-mode.ts')).prepareAwsMode(config, logger)
    : undefined;
  // Signals and stdin are watched from the start: a standby is dismissed by them before it has a call.
  const dismissed = new AbortController();
  let runner: CallRunner | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const hangUp = (message: string, fields: Record<string, unknown>) => {
    if (!runner) {
      dismissed.abort();
      return;
    }
    logger.info(message, fields);
    runner.hangup();
    deadline ??= exitAfter(SHUTDOWN_DEADLINE_MS);
  };
  const exitAfter = (ms: number, previous?: NodeJS.Timeout) => {
    clearTimeout(previous);
    return setTimeout(() => {
      logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, ms).unref();
  };
  process.once('SIGTERM', (signal) => hangUp('hanging up on signal', { signal }));
  process.once('SIGINT', (signal) => hangUp('hanging up on signal', { signal }));
  // Once the reader of our output is gone, a write fails with EPIPE, and an unhandled stream error would kill
  // the task before its BYE: the events are lost either way, and a restarted server marks the call crashed.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const stdin = new StdinChannel(createInterface({ input: process.stdin }), logger);
  // Locally stdin is the server's pipe, so its end means the server died (SIGKILL, OOM) or is stopping us; an
  // orphan would stream on with no one to stop it. On ECS stdin is no pipe and ends at once: not a hang-up there.
  if (config.eventSink === 'stdout')
    stdin.onClose(() => hangUp('hanging up: stdin closed, the local server stopped or died', {}));

  const relayPath = fileURLToPath(new URL(`./${RELAY_FILE}`, import.meta.url));
  // A standby's sockets are ready before its call: the INVITE then waits for no relay to start.
  const endpoints = config.standby
    ? await bindCallEndpoints({
        bindAddress: config.bindAddress,
        relayPath,
        ...(config.mediaPorts ? { mediaPorts: config.mediaPorts } : {}),
        logger,
      })
    : undefined;
  const call = await takeCall(config, aws, stdin, dismissed.signal);
  if (!call) {
    if (endpoints) closeCallEndpoints(endpoints);
    logger.info('standby task dismissed before a call');
    return 0;
  }
  const { spec } = call;
  logger = logger.child({ callId: spec.callId });
  logger.info('task has its call', { standby: config.standby });
  const reporter = new EventReporter(spec.callId, aws?.sink ?? stdoutEventSink, (error) =>
    logger.error('state event not delivered', { error }),
  );
  runner = new CallRunner({
    spec,
    bindAddress: config.bindAddress,
    publicAddress: aws?.publicAddress ?? config.publicAddress,
    ffmpegPath: config.ffmpegPath ?? fileURLToPath(new URL(`./${FFMPEG_FILE}`, import.meta.url)),
    relayPath,
    ...(endpoints ? { endpoints } : {}),
    rtmpsCaFile: config.rtmpsCaFile,
    inviteTimeoutMs: config.inviteTimeoutMs,
    mediaPorts: config.mediaPorts,
    recordingDir: config.recordingDir,
    // On ECS stdout goes to CloudWatch Logs, where EMF lines become metrics; locally it is the event channel.
    ...(config.eventSink === 'eventbridge' ? { onFigures: metricsOf(config) } : {}),
    report: (event) => reporter.report(event),
    logger,
  });
  const running = runner;
  stdin.onCommand((command) => running.command(command));
  const stopWatching = call.watch?.(running);
  await running.start();
  const final = await running.done;
  stopWatching?.();
  const recording = await running.recording;
  if (recording && spec.recordingId) {
    // The call kept its promise: the deadline now bounds the upload, within ECS's stop timeout (infra).
    if (deadline) deadline = exitAfter(UPLOAD_DEADLINE_MS, deadline);
    const report = await (aws?.keepRecording ?? keepInPlace)(recording, spec.recordingId);
    await reporter.report({
      type: 'recording',
      ...report,
      ...(report.error ? { error: report.error.slice(0, 500) } : {}),
    });
  }
  await reporter.flushed();
  logger.info('task done', { state: final.type });
  return 0;
}

/** The task's figures as EMF lines on stdout (task-metrics.ts). */
function metricsOf(config: TaskConfig): (figures: TaskFigures) => void {
  const metrics = new TaskMetrics(config.gatewayName);
  return (figures) => metrics.report(figures);
}

/** Where the call comes from: the environment, the table (AWS), or, for a standby, stdin or the pool (AWS). */
async function takeCall(
  config: TaskConfig,
  aws: AwsMode | undefined,
  stdin: StdinChannel,
  signal: AbortSignal,
): Promise<(Partial<StoredCall> & { spec: CallSpec }) | undefined> {
  if (aws?.takeCall) return aws.takeCall(signal);
  if (!config.standby) return { spec: parseCallSpec(config.rawSpec) };
  process.stdout.write(JSON.stringify(STANDBY_READY) + '\n');
  const spec = await stdin.assignment(signal);
  return spec && { spec };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    createLogger({ component: 'media-task' }).error('task failed to run', { error });
    process.exit(2);
  },
);
