import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

/**
 * The embedded DynamoDB-API store of local mode: dynalite (LevelDB on disk) on a loopback port, so the one
 * DynamoDB adapter serves both local mode and AWS, and a restart keeps the call history.
 */
export class EmbeddedDynamoDb {
  private constructor(
    private readonly server: ReturnType<typeof dynalite>,
    readonly endpoint: string,
  ) {}

  static async start(dataDir: string): Promise<EmbeddedDynamoDb> {
    mkdirSync(dataDir, { recursive: true });
    const server = dynalite({ path: dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new EmbeddedDynamoDb(server, `http://127.0.0.1:${port}`);
  }

  client(): DynamoDBClient {
    // dynalite checks that credentials are present, not what they are.
    return new DynamoDBClient({ endpoint: this.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
