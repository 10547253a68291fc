/**
 * A throwaway nginx-rtmp for tests: listens on a free 127.0.0.1 port, records every published stream to
 * `<dir>/<stream>.flv` so a test can inspect what really went over RTMP.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnedProcess } from '../../media-task/process/owned-process.ts';
import { freePort } from './free-port.ts';

export class NginxRtmp {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly process: OwnedProcess,
  ) {}

  static async start(): Promise<NginxRtmp> {
    const dir = await mkdtemp(join(tmpdir(), 'nginx-rtmp-'));
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    await writeFile(
      conf,
      [
        'load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;',
        'daemon off;',
        'master_process off;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} info;`,
        'events { worker_connections 64; }',
        'rtmp {',
        `  server { listen 127.0.0.1:${port};`,
        `    application live { live on; record all; record_path ${dir}; record_unique off; } }`,
        '}',
        '',
      ].join('\n'),
    );
    const process = await OwnedProcess.start({ name: 'nginx-rtmp', command: 'nginx', args: ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')] });
    const nginx = new NginxRtmp(port, dir, process);
    try {
      await waitFor(() => tcpOpen(port), 5_000, 'nginx-rtmp to listen');
    } catch (error) {
      await nginx.stop();
      throw error;
    }
    return nginx;
  }

  /** rtmp://127.0.0.1:PORT/live */
  get url(): string {
    return `rtmp://127.0.0.1:${this.port}/live`;
  }

  recordingPath(stream: string): string {
    return join(this.dir, `${stream}.flv`);
  }

  /** Resolves when the recording exists and has not grown for `stableMs` (the publisher stopped). */
  async waitForRecording(stream: string, { stableMs = 500, timeoutMs = 10_000 } = {}): Promise<string> {
    const path = this.recordingPath(stream);
    let lastSize = -1;
    let since = Date.now();
    await waitFor(
      async () => {
        const size = await stat(path).then((s) => s.size, () => -1);
        if (size !== lastSize) {
          lastSize = size;
          since = Date.now();
          return false;
        }
        return size > 0 && Date.now() - since >= stableMs;
      },
      timeoutMs,
      `recording ${stream}.flv to settle`,
    );
    return path;
  }

  async stop(): Promise<void> {
    await this.process.close('SIGTERM', 3_000);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
