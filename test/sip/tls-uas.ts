import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { OwnedProcess } from '../../shared/owned-process.ts';

/** A throw-away certificate for 127.0.0.1 made by openssl (sipp here is built without TLS). */
export async function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'sip-tls-'));
  try {
    const openssl = await OwnedProcess.start({
      name: 'openssl',
      command: 'openssl',
      args: [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=sip.test',
        '-addext',
        'subjectAltName=DNS:sip.test,IP:127.0.0.1',
        '-keyout',
        join(directory, 'key.pem'),
        '-out',
        join(directory, 'cert.pem'),
      ],
    });
    const exit = await openssl.exited;
    if (exit.code !== 0) throw new Error(`openssl failed: ${openssl.lastLines().join('\n')}`);
    return {
      key: await readFile(join(directory, 'key.pem'), 'utf8'),
      cert: await readFile(join(directory, 'cert.pem'), 'utf8'),
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/**
 * The smallest UAS that answers one INVITE over TLS with PCMU and answers BYE; it records the start line of
 * every request it receives. Deliberately naive: one message per framing, no transactions.
 */
export class TlsUas {
  readonly received: string[] = [];
  private readonly sockets = new Set<TLSSocket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(credentials: { key: string; cert: string }): Promise<TlsUas> {
    return new Promise((resolve, reject) => {
      let uas: TlsUas;
      const server = createServer(credentials, (socket) => uas.serve(socket));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        if (!address || typeof address !== 'object') return reject(new Error('no address'));
        uas = new TlsUas(server, address.port);
        resolve(uas);
      });
    });
  }

  private serve(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.slice(0, end);
        const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        buffer = buffer.slice(end + 4 + length);
        this.onMessage(socket, head);
      }
    });
  }

  private onMessage(socket: TLSSocket, head: string): void {
    const [startLine = ''] = head.split('\r\n');
    if (startLine.startsWith('SIP/')) return;
    this.received.push(startLine);
    const method = startLine.split(' ')[0];
    const copy = (name: string) =>
      head.split('\r\n').filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    const to = copy('To')[0] ?? '';
    const reply = (status: string, extra: string[], body = '') =>
      socket.write(
        [
          `SIP/2.0 ${status}`,
          ...copy('Via'),
          ...copy('From'),
          /;tag=/.test(to) ? to : `${to};tag=uas1`,
          ...copy('Call-ID'),
          ...copy('CSeq'),
          ...extra,
          `Content-Length: ${Buffer.byteLength(body)}`,
          '',
          body,
        ].join('\r\n'),
      );
    if (method === 'INVITE') {
      const sdp = [
        'v=0',
        'o=uas 1 1 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 6000 RTP/AVP 0',
        'a=rtpmap:0 PCMU/8000',
        '',
      ].join('\r\n');
      reply(
        '200 OK',
        [`Contact: <sip:uas@127.0.0.1:${this.port};transport=tls>`, 'Content-Type: application/sdp'],
        sdp,
      );
    } else if (method !== 'ACK') {
      reply('200 OK', []);
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
