/**
 * `npm start`: the gateway on one machine. The same hono app as on AWS, the same DynamoDB adapter over an
 * embedded store, and each call's media task as a child process whose state events go through the same recorder
 * the EventBridge Lambda uses.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { systemDnsResolver } from '../adapters/dns-host-resolver.ts';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { createApp } from '../app/create-app.ts';
import { isLoopbackName } from '../app/cross-site-guard.ts';
import type { CallEvent } from '../core/call-state.ts';
import { recordEvent } from '../recorder.ts';
import { bundleMediaTask, chooseTaskFfmpeg } from '../../media-task/index.ts';
import { createLogger } from '../../shared/log.ts';
import { EmbeddedDynamoDb } from './embedded-dynamodb.ts';
import { readLocalConfig } from './local-config.ts';
import { localApiKeySource } from '../api-keys-config.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { LocalRecordings } from './local-recordings.ts';
import { LocalTaskLauncher } from './local-task-launcher.ts';
import { SweepTimer } from './sweep-timer.ts';
import { sweep } from '../sweeper.ts';
import { DynamoDbStandbyRegistry } from '../../shared/aws/dynamodb-standby-registry.ts';
import { StandbyPool } from '../standby-pool.ts';
import { StatusNotifier } from '../webhooks/status-notifier.ts';
import { describeWebhookConfig, readWebhookConfig } from '../webhooks/webhook-config.ts';

const TABLE = 'calls';
/** A standby task's boot takes a core: during a burst of calls, the calls get the cores (BENCHMARKS.md). */
const REFILL_QUIET_MS = 1_000;

async function main(): Promise<void> {
  const logger = createLogger({ component: 'local-server' });
  const config = readLocalConfig();
  const webhooks = readWebhookConfig();
  const ffmpeg = await chooseTaskFfmpeg(config.ffmpegPath);
  logger.info(`media tasks run ${ffmpeg.path}`, { from: ffmpeg.source });
  const db = await EmbeddedDynamoDb.start(join(config.dataDir, 'dynamodb'));
  const store = new DynamoDbCallStore({
    client: db.client(),
    tableName: TABLE,
    retentionSeconds: config.retentionSeconds,
  });
  await store.ensureTable();

  const now = () => new Date().toISOString();
  // Status callbacks go out after the recorder applied a change, one queue per call.
  const notifier = webhooks.statusSigningKey
    ? new StatusNotifier({ store, signingKey: webhooks.statusSigningKey, logger, pricing: config.pricing })
    : undefined;
  // Tasks of a previous run died with it: their calls cannot continue, so they end with a reason.
  // `notifier?.enqueueEffects(await recordEvent(...))` would skip the recording itself when callbacks are off.
  const registry = new DynamoDbStandbyRegistry({ client: db.client(), tableName: TABLE });
  const metrics = new GatewayMetrics(store, registry);
  const record = async (event: CallEvent) => {
    const result = await recordEvent(store, event);
    metrics.recorded(result, event);
    notifier?.enqueueEffects(result);
  };
  for (const call of await store.list({ live: true })) {
    await record({
      type: 'task-crashed',
      callId: call.callId,
      at: now(),
      message: 'the local server restarted during the call',
    });
  }

  // Standby tasks of a previous run died with it too.
  for (const entry of await registry.list()) await registry.remove(entry.taskRef);
  let pool: StandbyPool | undefined;
  const recordings = new LocalRecordings(join(config.dataDir, 'recordings'));
  await mkdir(recordings.dir, { recursive: true });
  const launcher = new LocalTaskLauncher({
    // Built at every start, so a task always runs the code the server was started with.
    entry: await bundleMediaTask(join(config.dataDir, 'media-task'), ffmpeg.path),
    onEvent: record,
    onCrash: (callId, message) => record({ type: 'task-crashed', callId, at: now(), message }),
    logger,
    bindAddress: config.bindAddress,
    publicAddress: config.publicAddress,
    stopGraceMs: config.stopGraceMs,
    recordingDir: recordings.dir,
    onStandbyReady: (taskRef) =>
      void pool?.ready(taskRef).catch((error: unknown) => logger.error('standby task not marked ready', { error })),
    onStandbyExit: (taskRef) =>
      void pool?.gone(taskRef).catch((error: unknown) => logger.error('standby task not removed', { error })),
  });
  pool = new StandbyPool({
    registry,
    launcher,
    inspector: launcher,
    policy: config.standby,
    logger,
    refillQuietMs: REFILL_QUIET_MS,
  });
  const standby = pool;
  // Closes calls nothing else would: a task that never started or hung past its limit (functions/sweeper.ts).
  const sweeper = new SweepTimer({
    intervalMs: config.sweep.intervalMs,
    run: async () => {
      await standby.tend();
      return sweep({
        store,
        inspector: launcher,
        launcher,
        policy: config.sweep.policy,
        logger,
        now: () => new Date(),
        onClosed: async (result) => {
          metrics.recorded(result);
          notifier?.enqueueEffects(result);
        },
      });
    },
    logger,
  });
  const app = createApp({
    store,
    launcher,
    standby,
    resolveHost: systemDnsResolver(),
    ...(config.apiKeys ? { apiKeys: localApiKeySource(config.apiKeys, logger) } : {}),
    pricing: config.pricing,
    loopbackOnly: isLoopbackName(config.host),
    logger,
    webhooks,
    onStateChange: (record, change) => {
      metrics.changed(record, change.to);
      notifier?.enqueue(record, change);
    },
    recordings,
    metrics: () => metrics.text(),
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    logger.info(`listening on http://${config.host}:${info.port}`, {
      port: info.port,
      host: config.host,
      auth: config.apiKeys
        ? `bearer API keys from ${config.apiKeys.source}: ${config.apiKeys.keys.map((key) => key.name).join(', ')}`
        : 'none (bound to loopback only unless HOST is set)',
      dataDir: config.dataDir,
      webhooks: describeWebhookConfig(webhooks),
      standbyTasks: config.standby.size,
    });
  });
  void standby.refill();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    await sweeper.close();
    await standby.close();
    logger.info('hanging up live calls before exit', { signal, liveTasks: launcher.liveTasks });
    await launcher.stopAll();
    // The final states the tasks just reported still have callbacks to deliver.
    await notifier?.drain();
    server.close();
    await db.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  createLogger({ component: 'local-server' }).error('could not start', { error });
  process.exit(1);
});
