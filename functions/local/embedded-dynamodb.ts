import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

/** sun_path holds 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * The embedded DynamoDB-API store of local mode: dynalite (LevelDB on disk) on a Unix socket in its data
 * directory, so the one DynamoDB adapter serves both local mode and AWS, and a restart keeps the call history.
 *
 * The store holds SIP passwords, and dynalite answers whoever reaches it (it checks that a request is signed, not
 * by whom, and allows every origin). So it has no TCP port, which every local user and a web page that finds it
 * could reach, and the directory with its files and socket is the owner's alone.
 */
export class EmbeddedDynamoDb {
  private constructor(
    private readonly server: ReturnType<typeof dynalite>,
    private readonly socketPath: string,
  ) {}

  static async start(dataDir: string): Promise<EmbeddedDynamoDb> {
    const socketPath = join(dataDir, 'dynalite.sock');
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(
        `the store's socket path ${socketPath} is longer than a Unix socket allows (${MAX_SOCKET_PATH_BYTES} bytes): choose a shorter DATA_DIR`,
      );
    }
    // Also when an older start left the directory open to others.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    // A server that was killed leaves its socket behind, and listen() refuses an existing path.
    rmSync(socketPath, { force: true });
    const server = dynalite({ path: dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    return new EmbeddedDynamoDb(server, socketPath);
  }

  client(): DynamoDBClient {
    const agent = new UnixSocketAgent(this.socketPath);
    return new DynamoDBClient({
      // Only signed for: every connection goes to the socket. dynalite checks that credentials are there, not what they are.
      endpoint: 'http://localhost',
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: { httpAgent: agent },
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Connections to one Unix socket, kept alive between requests as the SDK's default agent keeps its TCP ones. */
class UnixSocketAgent extends Agent {
  constructor(private readonly socketPath: string) {
    super({ keepAlive: true });
  }

  override createConnection(): Socket {
    return createConnection(this.socketPath);
  }
}
