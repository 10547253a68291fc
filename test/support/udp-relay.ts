import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/**
 * A UDP relay on 127.0.0.1 in front of a peer that loses the first `dropFirst` datagrams the caller sends it:
 * real loss on the way to the peer, which a sipp scenario cannot produce on its own receive side. Everything
 * else is relayed both ways; the peer's datagrams go back to whoever sent the caller's last one.
 */
export class UdpRelay {
  /** The caller's datagrams that were lost on purpose, as text, in order. */
  readonly dropped: string[] = [];
  private caller: RemoteInfo | undefined;
  private fromCaller = 0;

  private constructor(
    private readonly front: Socket,
    private readonly back: Socket,
    private readonly targetPort: number,
    private readonly dropFirst: number,
  ) {
    front.on('message', (datagram, from) => {
      this.caller = from;
      if (this.fromCaller++ < this.dropFirst) this.dropped.push(datagram.toString('utf8'));
      else back.send(datagram, this.targetPort, '127.0.0.1');
    });
    back.on('message', (datagram, from) => {
      if (from.port === this.targetPort && this.caller) front.send(datagram, this.caller.port, this.caller.address);
    });
  }

  /** Relays 127.0.0.1:`port` (the caller's side) to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number, { dropFirst = 1 } = {}): Promise<UdpRelay> {
    const front = await bound();
    const back = await bound().catch(async (error: unknown) => {
      await closeSocket(front);
      throw error;
    });
    return new UdpRelay(front, back, targetPort, dropFirst);
  }

  /** Where the caller sends. */
  get port(): number {
    return this.front.address().port;
  }

  async close(): Promise<void> {
    await Promise.all([closeSocket(this.front), closeSocket(this.back)]);
  }
}

function bound(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      // A send to a peer that has already exited must not crash the test run: the peer's own checks report it.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

/** Safe twice: a socket already closed resolves at once. */
function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
