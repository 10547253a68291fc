/**
 * Hostile bytes at our SIP sockets themselves (anyone can reach the TCP listener and the UDP port): the event
 * loop stays responsive, framing errors close only the offending connection, nothing is printed on stdout (the
 * state-event channel), and the stack still answers a proper request afterwards.
 */
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../shared/log.ts';
import { openSipStack, type SipStack, type SipTransportName } from '../../media-task/sip/sip-stack.ts';

const OPTIONS = (port: number, protocol: string) =>
  [
    `OPTIONS sip:gw@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/${protocol} 127.0.0.1:9;branch=z9hG4bK${Math.random().toString(36).slice(2)}`,
    'From: <sip:probe@127.0.0.1>;tag=p1',
    'To: <sip:gw@127.0.0.1>',
    `Call-ID: probe-${Math.random()}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');

/** Largest delay of a 10 ms timer while `action` runs: how long the event loop was blocked. */
async function worstLag(action: () => Promise<void>): Promise<number> {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 10);
    last = now;
  }, 10);
  try {
    await action();
  } finally {
    clearInterval(timer);
  }
  return worst;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tcpClient(port: number): Promise<{ socket: Socket; received: string[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const received: string[] = [];
    const socket = connect(port, '127.0.0.1');
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => received.push(chunk));
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, received, closed }));
  });
}

describe('hostile bytes at our SIP sockets', () => {
  let stack: SipStack | undefined;
  afterEach(() => {
    stack?.close();
    stack = undefined;
    vi.restoreAllMocks();
  });

  async function open(transport: SipTransportName): Promise<SipStack> {
    stack = await openSipStack({
      transport,
      bindAddress: '127.0.0.1',
      publicAddress: '127.0.0.1',
      logger: silentLogger,
    });
    stack.onRequest((request) => stack!.respond(request, 200, 'OK'));
    return stack;
  }

  it('TCP: 60 KB of whitespace in 100-byte segments does not block the event loop (the package blocked for minutes)', async () => {
    const consoleLog = vi.spyOn(console, 'log');
    const { localPort } = await open('tcp');
    const client = await tcpClient(localPort);
    const lag = await worstLag(async () => {
      for (let sent = 0; sent < 60_000; sent += 100) {
        client.socket.write(' '.repeat(100));
        if (sent % 5_000 === 0) await pause(1);
      }
      client.socket.write(OPTIONS(localPort, 'TCP'));
      await pause(300);
    });
    expect(lag).toBeLessThan(100);
    expect(client.received.join('')).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    client.socket.destroy();
    expect(consoleLog).not.toHaveBeenCalled();
  });

  it.each([
    ['a non-numeric Content-Length', 'SIP/2.0 200 OK\r\nContent-Length: abc\r\n\r\n'],
    ['a header block that never ends', 'X'.repeat(20_000)],
    ['a Content-Length over the body limit', 'SIP/2.0 200 OK\r\nContent-Length: 10000000\r\n\r\n'],
  ])('TCP: %s closes that connection only; the next one is answered', async (_name, garbage) => {
    const consoleLog = vi.spyOn(console, 'log');
    const { localPort } = await open('tcp');
    const hostile = await tcpClient(localPort);
    hostile.socket.write(garbage);
    await hostile.closed;
    const honest = await tcpClient(localPort);
    honest.socket.write(OPTIONS(localPort, 'TCP'));
    await pause(300);
    expect(honest.received.join('')).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    honest.socket.destroy();
    expect(consoleLog).not.toHaveBeenCalled();
  });

  it('UDP: 60 KB datagrams of whitespace do not block the event loop (the package spent 0.5 s on each)', async () => {
    const { localPort } = await open('udp');
    const client = createSocket('udp4');
    const received: string[] = [];
    client.on('message', (data) => received.push(data.toString('latin1')));
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
    const lag = await worstLag(async () => {
      for (let count = 0; count < 10; count++)
        client.send(Buffer.from(' '.repeat(60_000) + 'x'), localPort, '127.0.0.1');
      client.send(Buffer.from(OPTIONS(localPort, 'UDP')), localPort, '127.0.0.1');
      await pause(300);
    });
    client.close();
    expect(lag).toBeLessThan(100);
    expect(received.join('')).toMatch(/^SIP\/2\.0 200 OK\r\n/);
  });
});
