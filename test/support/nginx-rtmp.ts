/**
 * A throwaway nginx-rtmp for tests: listens on a free 127.0.0.1 port, records every published stream to
 * `<dir>/<stream>.flv` so a test can inspect what really went over RTMP. It can be killed and started again on
 * the same port (an RTMP server outage), and fronted by a TLS proxy for rtmps:// (this nginx build has no
 * `stream` module; the proxy is node:tls with a certificate openssl makes for the test).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { freePort } from './free-port.ts';

export class NginxRtmp {
  private tls: { server: TlsServer; port: number; sockets: Set<Socket> } | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private process: OwnedProcess,
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
        // Room for the bench's 100 publishers: at 64, the 65th was reset before it could publish.
        'events { worker_connections 1024; }',
        'rtmp {',
        `  server { listen 127.0.0.1:${port};`,
        `    application live { live on; record all; record_path ${dir}; record_unique off; } }`,
        '}',
        '',
      ].join('\n'),
    );
    const nginx = new NginxRtmp(port, dir, await spawnNginx(dir));
    try {
      await waitFor(() => tcpOpen(port), 5_000, 'nginx-rtmp to listen');
    } catch (error) {
      await nginx.stop();
      throw error;
    }
    return nginx;
  }

  /** An outage: nginx is gone (publishers' connections reset), the port refuses until `restart()`. */
  async kill(): Promise<void> {
    await this.process.close('SIGKILL', 1_000);
  }

  /** Back on the same port and recording directory. */
  async restart(): Promise<void> {
    if (this.process.running) await this.kill();
    this.process = await spawnNginx(this.dir);
    await waitFor(() => tcpOpen(this.port), 5_000, 'nginx-rtmp to listen again');
  }

  /** A TLS front on 127.0.0.1 with a self-signed certificate: its URL, and the certificate as the CA to trust. */
  async startTls(): Promise<{ url: string; caFile: string }> {
    const key = join(this.dir, 'tls.key');
    const cert = join(this.dir, 'tls.crt');
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    const sockets = new Set<Socket>();
    const server = createTlsServer({ key: await readFile(key), cert: await readFile(cert) }, (client) => {
      const upstream = connect(this.port, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    this.tls = { server, port, sockets };
    return { url: `rtmps://127.0.0.1:${port}/live`, caFile: cert };
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
        const size = await stat(path).then(
          (s) => s.size,
          () => -1,
        );
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
    if (this.tls) {
      for (const socket of this.tls.sockets) socket.destroy();
      await new Promise((resolve) => this.tls!.server.close(resolve));
    }
    await this.process.close('SIGTERM', 3_000);
    await rm(this.dir, { recursive: true, force: true });
  }
}

function spawnNginx(dir: string): Promise<OwnedProcess> {
  const conf = join(dir, 'nginx.conf');
  return OwnedProcess.start({
    name: 'nginx-rtmp',
    command: 'nginx',
    args: ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')],
    diesWithOwner: true,
  });
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
