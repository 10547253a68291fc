import { createSocket, type Socket } from 'node:dgram';

/**
 * An even UDP port P on `address` with P+1 free too, as ffmpeg's RTP input binds both (RTCP on P+1). The OS picks
 * P; we release the sockets just before ffmpeg binds them, a window in which another process could take them.
 */
export async function freeUdpPortPair(address = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await bind(address, 0);
    if (!first) continue;
    const port = first.address().port;
    const even = port & ~1;
    const second = await bind(address, port % 2 === 0 ? port + 1 : port - 1);
    await close(first);
    if (!second) continue;
    await close(second);
    if (even > 1024) return even;
  }
  throw new Error(`no free UDP port pair on ${address}`);
}

function bind(address: string, port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind(port, address, () => resolve(socket));
  });
}

function close(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** A free UDP port on 127.0.0.1 for a local relay; released before the republisher binds it, like the pair above. */
export async function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  const socket = await bind(address, 0);
  if (!socket) throw new Error(`no free UDP port on ${address}`);
  const port = socket.address().port;
  await close(socket);
  return port;
}
