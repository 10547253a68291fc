/**
 * `npm start`: the gateway on one machine. The same hono app as on AWS, the same DynamoDB adapter over an
 * embedded store, and each call's media task as a child process whose state events go through the same recorder
 * the EventBridge Lambda uses.
 */
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { DynamoDbCallStore } from '../adapters/dynamodb-call-store.ts';
import { createApp } from '../app/create-app.ts';
import { recordEvent } from '../recorder.ts';
import { createLogger } from '../../media-task/log.ts';
import { EmbeddedDynamoDb } from './embedded-dynamodb.ts';
import { readLocalConfig } from './local-config.ts';
import { LocalTaskLauncher } from './local-task-launcher.ts';

const TABLE = 'calls';

async function main(): Promise<void> {
  const logger = createLogger({ component: 'local-server' });
  const config = readLocalConfig();
  const db = await EmbeddedDynamoDb.start(join(config.dataDir, 'dynamodb'));
  const store = new DynamoDbCallStore({ client: db.client(), tableName: TABLE });
  await store.ensureTable();

  const now = () => new Date().toISOString();
  // Tasks of a previous run died with it: their calls cannot continue, so they end with a reason.
  for (const call of await store.list({ live: true })) {
    await recordEvent(store, { type: 'task-crashed', callId: call.callId, at: now(), message: 'the local server restarted during the call' });
  }

  const launcher = new LocalTaskLauncher({
    onEvent: async (event) => void (await recordEvent(store, event)),
    onCrash: async (callId, message) => void (await recordEvent(store, { type: 'task-crashed', callId, at: now(), message })),
    logger,
    bindAddress: config.bindAddress,
    publicAddress: config.publicAddress,
    ffmpegPath: config.ffmpegPath,
  });
  const app = createApp({ store, launcher, apiKey: config.apiKey, logger });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    logger.info(`listening on http://${config.host}:${info.port}`, {
      port: info.port,
      host: config.host,
      auth: config.apiKey ? 'bearer API key' : 'none (bound to loopback only unless HOST is set)',
      dataDir: config.dataDir,
    });
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('hanging up live calls before exit', { signal, liveTasks: launcher.liveTasks });
    await launcher.stopAll();
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
