import { fileURLToPath } from 'node:url';
import { ensureTaskFfmpeg } from '../../media-task/ffmpeg/task-ffmpeg.ts';
import { OwnedProcess } from '../../shared/owned-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `npm start` as a user runs it (functions/local/server.ts), on a free port, with its data in `dataDir`. */
export class LocalServer {
  private constructor(
    readonly process: OwnedProcess,
    readonly baseUrl: string,
    readonly logLines: string[],
  ) {}

  static async start(dataDir: string, env: Record<string, string> = {}): Promise<LocalServer> {
    // A server's first start builds the tasks' ffmpeg (~1.5 min): built here, it is no part of the start timed below.
    await ensureTaskFfmpeg();
    const logLines: string[] = [];
    let port = 0;
    const owned = await OwnedProcess.start({
      name: 'local server',
      command: process.execPath,
      args: ['--import', 'tsx', 'functions/local/server.ts'],
      cwd: ROOT,
      // Stopped, not killed, when the test runner dies: it hangs up its calls and their tasks exit with it.
      diesWithOwner: 'SIGTERM',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'debug', ...env },
      onLine: (line) => logLines.push(line),
      readyWhen: (line) => {
        const match = /"message":"listening on http:\/\/[^:]+:(\d+)"/.exec(line);
        if (match) port = Number(match[1]);
        return match !== null;
      },
      readyTimeoutMs: 20_000,
    });
    return new LocalServer(owned, `http://127.0.0.1:${port}`, logLines);
  }

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text };
  }

  /** One scrape of GET /metrics: a series' value by its name and labels as printed, NaN when absent. */
  async metrics(): Promise<(series: string) => number> {
    const text = (await this.request('GET', '/metrics')).text;
    return (series) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.slice(series.length + 1),
      );
  }

  /** Polls GET /v1/calls/{callId} until `predicate` holds. */
  async waitForCall(callId: string, predicate: (call: any) => boolean, timeoutMs = 20_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      last = (await this.request('GET', `/v1/calls/${callId}`)).json;
      if (predicate(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`call ${callId} never matched; last: ${JSON.stringify(last)}`);
  }

  /** SIGTERM, as a user's Ctrl-C or a service manager stops it. */
  stop(): Promise<unknown> {
    return this.process.close('SIGTERM', 20_000);
  }
}
