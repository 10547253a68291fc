import { EventEmitter } from 'node:events';
import { chmodSync, mkdirSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

type DynaliteListener = (request: unknown, response: unknown) => void;

interface SdkRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/**
 * The embedded DynamoDB-API store of local mode: dynalite (LevelDB on disk) in the server's own process, so the
 * one DynamoDB adapter serves both local mode and AWS, and a restart keeps the call history.
 *
 * The SDK's requests go to dynalite's request handler without a socket in between. The store holds SIP passwords,
 * and on a port dynalite answers anyone: every local user, and a web page that finds the port (it allows every
 * origin). A round trip also costs a quarter less CPU without the HTTP on both sides.
 *
 * There is no close: dynalite closes its database only as part of closing a listening server. LevelDB needs none
 * at exit, since it replays its log at the next open and its lock goes with the process.
 */
export class EmbeddedDynamoDb {
  private constructor(private readonly listener: DynaliteListener) {}

  static open(dataDir: string): EmbeddedDynamoDb {
    // The files hold SIP passwords: the directory is the owner's alone, also when an older start left it open.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    const server = dynalite({ path: dataDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    return new EmbeddedDynamoDb(server.listeners('request')[0] as DynaliteListener);
  }

  client(): DynamoDBClient {
    return new DynamoDBClient({
      // Never dialled; the SDK signs for it, and dynalite checks that a signature is there, not what it is.
      endpoint: 'http://dynalite.invalid',
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: { handle: (request: SdkRequest) => this.handle(request) },
    });
  }

  /** One request as dynalite reads it from node's http server: headers, `data`, `end`; its answer from `end()`. */
  private handle(request: SdkRequest): Promise<{ response: { statusCode: number; headers: Record<string, string>; body: Buffer } }> {
    return new Promise((resolve) => {
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
      const incoming = Object.assign(new EventEmitter(), { method: request.method, url: request.path, headers });
      const answerHeaders: Record<string, string> = {};
      const outgoing = {
        statusCode: 200,
        setHeader: (name: string, value: unknown) => (answerHeaders[name.toLowerCase()] = String(value)),
        end: (body?: string) => resolve({ response: { statusCode: outgoing.statusCode, headers: answerHeaders, body: Buffer.from(body ?? '') } }),
      };
      this.listener(incoming, outgoing);
      if (request.body !== undefined) incoming.emit('data', Buffer.from(request.body));
      incoming.emit('end');
    });
  }
}
