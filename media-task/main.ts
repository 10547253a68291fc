/**
 * The media task's entry point: the same program runs as the Fargate task on AWS and as a child process of the
 * local server. It runs one call and exits 0 once the call has a final state (also after SIGTERM, which is what
 * ECS StopTask and the local launcher send to hang up, and locally after stdin closes: the server is gone).
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseCallSpec } from '../shared/call-spec-schema.ts';
import { parseJsonLine, parseTaskCommand } from '../shared/task-messages.ts';
import { CallRunner } from './call-runner.ts';
import { TASK_ENV } from '../shared/task-env.ts';
import { FFMPEG_FILE, needsAwsMode, readTaskConfig, RELAY_FILE } from './config.ts';
import { EventReporter, stdoutEventSink } from './events/event-reporter.ts';
import { createLogger } from '../shared/log.ts';

/** ECS waits 30 s between SIGTERM and SIGKILL; we promise 10 s, BYE and ffmpeg's trailer included. */
const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(): Promise<number> {
  let logger = createLogger({ component: 'media-task' });
  const config = readTaskConfig();
  // Children (ffmpeg) inherit the environment; the spec holds the SIP password, so it leaves it once read.
  delete process.env[TASK_ENV.callSpec];
  // Loaded only on AWS: the SDK clients would add tens of MB to every local task.
  const aws = needsAwsMode(config)
    ? await (await import('./aws/aws-mode.ts')).prepareAwsMode(config, logger)
    : undefined;
  const spec = aws?.spec ?? parseCallSpec(config.rawSpec);
  logger = logger.child({ callId: spec.callId });
  const reporter = new EventReporter(spec.callId, aws?.sink ?? stdoutEventSink, (error) =>
    logger.error('state event not delivered', { error }),
  );
  const runner = new CallRunner({
    spec,
    bindAddress: config.bindAddress,
    publicAddress: aws?.publicAddress ?? config.publicAddress,
    ffmpegPath: config.ffmpegPath ?? fileURLToPath(new URL(`./${FFMPEG_FILE}`, import.meta.url)),
    relayPath: fileURLToPath(new URL(`./${RELAY_FILE}`, import.meta.url)),
    rtmpsCaFile: config.rtmpsCaFile,
    inviteTimeoutMs: config.inviteTimeoutMs,
    mediaPorts: config.mediaPorts,
    report: (event) => reporter.report(event),
    logger,
  });

  let deadline: NodeJS.Timeout | undefined;
  const hangUp = (message: string, fields: Record<string, unknown>) => {
    logger.info(message, fields);
    runner.hangup();
    deadline ??= setTimeout(() => {
      logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
  };
  process.once('SIGTERM', (signal) => hangUp('hanging up on signal', { signal }));
  process.once('SIGINT', (signal) => hangUp('hanging up on signal', { signal }));
  // Once the reader of our output is gone, a write fails with EPIPE, and an unhandled stream error would kill
  // the task before its BYE: the events are lost either way, and a restarted server marks the call crashed.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const commands = createInterface({ input: process.stdin });
  // The server's pipe, but a boundary all the same: a line that is not a command is logged and the call goes on.
  commands.on('line', (line) => {
    const command = parseJsonLine(line, parseTaskCommand);
    if (!command.ok) {
      logger.error('invalid task command ignored', { problem: command.problem, line: line.slice(0, 200) });
      return;
    }
    try {
      runner.command(command.value);
    } catch (error) {
      logger.error('task command failed', { type: command.value.type, error });
    }
  });
  // Locally stdin is the server's pipe, so its end means the server died (SIGKILL, OOM) or is stopping us; an
  // orphan would stream on with no one to stop it. On ECS stdin is no pipe and ends at once: not a hang-up there.
  if (config.eventSink === 'stdout')
    commands.once('close', () => hangUp('hanging up: stdin closed, the local server stopped or died', {}));

  const stopWatching = aws?.watch?.(runner);
  await runner.start();
  const final = await runner.done;
  stopWatching?.();
  await reporter.flushed();
  logger.info('task done', { state: final.type });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    createLogger({ component: 'media-task' }).error('task failed to run', { error });
    process.exit(2);
  },
);
