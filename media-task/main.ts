/**
 * The media task's entry point: the same program runs as the Fargate task on AWS and as a child process of the
 * local server. It runs one call and exits 0 once the call has a final state (also after SIGTERM, which is what
 * ECS StopTask and the local launcher send to hang up).
 */
import { createInterface } from 'node:readline';
import type { TaskCommand } from '../functions/core/call-types.ts';
import { parseCallSpec } from '../functions/core/call-spec-schema.ts';
import { CallRunner } from './call-runner.ts';
import { needsAwsMode, readTaskConfig, TASK_ENV } from './config.ts';
import { EventReporter, stdoutEventSink } from './events/event-reporter.ts';
import { createLogger } from './log.ts';

/** ECS waits 30 s between SIGTERM and SIGKILL; we promise 10 s, BYE and ffmpeg's trailer included. */
const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(): Promise<number> {
  let logger = createLogger({ component: 'media-task' });
  const config = readTaskConfig();
  // Children (ffmpeg) inherit the environment; the spec holds the SIP password, so it leaves it once read.
  delete process.env[TASK_ENV.callSpec];
  // Loaded only on AWS: the SDK clients would add tens of MB to every local task.
  const aws = needsAwsMode(config) ? await (await import('./aws/aws-mode.ts')).prepareAwsMode(config, logger) : undefined;
  const spec = aws?.spec ?? parseCallSpec(config.rawSpec);
  logger = logger.child({ callId: spec.callId });
  const reporter = new EventReporter(spec.callId, aws?.sink ?? stdoutEventSink, (error) => logger.error('state event not delivered', { error }));
  const runner = new CallRunner({
    spec,
    bindAddress: config.bindAddress,
    publicAddress: aws?.publicAddress ?? config.publicAddress,
    ffmpegPath: config.ffmpegPath,
    inviteTimeoutMs: config.inviteTimeoutMs,
    report: (event) => reporter.report(event),
    logger,
  });

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info('hanging up on signal', { signal });
    runner.hangup();
    setTimeout(() => {
      logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  createInterface({ input: process.stdin }).on('line', (line) => {
    try {
      runner.command(JSON.parse(line) as TaskCommand);
    } catch (error) {
      logger.warn('unreadable command ignored', { error });
    }
  });

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
