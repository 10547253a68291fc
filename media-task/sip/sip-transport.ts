/**
 * The sockets under the `sip` package's transaction layer (RFC 3261 section 18): one UDP socket, or TCP/TLS
 * connections and a TCP listener. They replace the package's transports, which frame with quadratic regular
 * expressions (see sip-framing.ts), print "Flood attempt" on stdout (our state-event channel) and leave bind
 * errors unhandled. Text in and out is latin1, one char per byte, as the package's parser and stringifier count.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect as tcpConnect, isIPv6, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { frameDatagram, StreamFramer, type SipFrame } from './sip-framing.ts';
import { SipTransportError } from './sip-errors.ts';

export type WireProtocol = 'UDP' | 'TCP' | 'TLS';

export interface Remote {
  protocol: WireProtocol;
  address: string;
  port: number;
}

/** A way to one remote: the transaction layer sends on it and releases it when the transaction ends. */
export interface Flow {
  readonly protocol: WireProtocol;
  send(text: string): void;
  release(): void;
}

export interface WireTransport {
  readonly port: number;
  /** The flow to `remote`, connecting (TCP/TLS) if there is none yet; `onError` hears of its failure. */
  open(remote: Remote, onError?: (error: unknown) => void): Flow;
  /** The flow a message arrived on, to answer on it (RFC 3261 section 18.2.2). */
  get(remote: Remote): Flow | undefined;
  close(): void;
}

export interface WireOptions {
  protocol: WireProtocol;
  address: string;
  /** 0: the system chooses. */
  port: number;
  tls?: ConnectionOptions;
  onFrame(frame: SipFrame, remote: Remote): void;
  /** A datagram dropped or a connection closed for a framing error, or a socket error. */
  onDropped(reason: string, remote: Remote | undefined, error?: unknown): void;
}

/** Resolves once bound; rejects with SipTransportError when the address cannot be bound. */
export function openWireTransport(options: WireOptions): Promise<WireTransport> {
  return options.protocol === 'UDP' ? openUdp(options) : openStream(options);
}

async function openUdp(options: WireOptions): Promise<WireTransport> {
  const socket: UdpSocket = createSocket(isIPv6(options.address) ? 'udp6' : 'udp4');
  socket.on('message', (data, info) => {
    const remote: Remote = { protocol: 'UDP', address: info.address, port: info.port };
    let frame: SipFrame;
    try {
      frame = frameDatagram(data.toString('latin1'));
    } catch (error) {
      return options.onDropped('unframeable datagram', remote, error);
    }
    options.onFrame(frame, remote);
  });
  const port = await bind(socket, options);
  socket.on('error', (error) => options.onDropped('UDP socket error', undefined, error));
  let closed = false;
  const flow = (remote: Remote, onError?: (error: unknown) => void): Flow => ({
    protocol: 'UDP',
    send(text) {
      if (closed) return;
      try {
        socket.send(Buffer.from(text, 'latin1'), remote.port, remote.address, (error) => error && onError?.(error));
      } catch (error) {
        onError?.(error);
      }
    },
    release() {},
  });
  return {
    port,
    open: flow,
    get: (remote) => flow(remote),
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}

function bind(socket: UdpSocket, options: WireOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', (error) =>
      reject(new SipTransportError(`could not bind UDP ${options.address}:${options.port}`, { cause: error })),
    );
    socket.bind(options.port, options.address, () => {
      socket.removeAllListeners('error');
      resolve(socket.address().port);
    });
  });
}

interface Connection {
  socket: Socket;
  refs: number;
  errorListeners: Set<(error: unknown) => void>;
}

/** Idle connections nobody references are closed after this (the package used the same 2 minutes). */
const IDLE_MS = 120_000;

async function openStream(options: WireOptions): Promise<WireTransport> {
  const { protocol } = options;
  const connections = new Map<string, Connection>();
  const key = (address: string, port: number) => `${address}:${port}`;
  let closed = false;

  const adopt = (socket: Socket, remote: Remote): Connection => {
    const id = key(remote.address, remote.port);
    const connection: Connection = { socket, refs: 0, errorListeners: new Set() };
    connections.set(id, connection);
    const framer = new StreamFramer();
    socket.setEncoding('latin1');
    socket.setTimeout(IDLE_MS, () => connection.refs === 0 && socket.destroy());
    socket.on('data', (chunk: string) => {
      let frames: SipFrame[];
      try {
        frames = framer.push(chunk);
      } catch (error) {
        options.onDropped('unframeable stream; connection closed', remote, error);
        socket.destroy();
        return;
      }
      for (const frame of frames) options.onFrame(frame, remote);
    });
    socket.on('error', (error) => {
      for (const listener of connection.errorListeners) listener(error);
    });
    socket.on('close', () => {
      if (connections.get(id) === connection) connections.delete(id);
      if (connection.refs > 0)
        for (const listener of connection.errorListeners)
          listener(new SipTransportError(`${protocol} connection to ${id} closed`));
    });
    return connection;
  };

  const flowOn = (connection: Connection, onError?: (error: unknown) => void): Flow => {
    connection.refs++;
    if (onError) connection.errorListeners.add(onError);
    let released = false;
    return {
      protocol,
      send(text) {
        if (!connection.socket.destroyed) connection.socket.write(text, 'latin1');
      },
      release() {
        if (released) return;
        released = true;
        connection.refs--;
        if (onError) connection.errorListeners.delete(onError);
      },
    };
  };

  // Peers may open connections of their own to our Contact (TCP only: we hold no certificate to serve TLS with).
  let server: Server | undefined;
  let port = options.port;
  if (protocol === 'TCP') {
    server = createServer((socket) =>
      adopt(socket, { protocol, address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }),
    );
    port = await listen(server, options);
    server.on('error', (error) => options.onDropped('TCP listener error', undefined, error));
  }

  return {
    port,
    open(remote, onError) {
      const existing = connections.get(key(remote.address, remote.port));
      if (existing && !existing.socket.destroyed) return flowOn(existing, onError);
      const socket =
        protocol === 'TLS'
          ? tlsConnect(remote.port, remote.address, options.tls)
          : tcpConnect(remote.port, remote.address);
      return flowOn(adopt(socket, remote), onError);
    },
    get(remote) {
      const existing = connections.get(key(remote.address, remote.port));
      return existing && !existing.socket.destroyed ? flowOn(existing) : undefined;
    },
    close() {
      if (closed) return;
      closed = true;
      server?.close();
      for (const connection of connections.values()) connection.socket.destroy();
      connections.clear();
    },
  };
}

function listen(server: Server, options: WireOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error) =>
      reject(new SipTransportError(`could not listen on TCP ${options.address}:${options.port}`, { cause: error })),
    );
    server.listen(options.port, options.address, () => {
      server.removeAllListeners('error');
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : options.port);
    });
  });
}
