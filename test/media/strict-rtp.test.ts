/**
 * Strict RTP through a real relay (media-task/relay/rtp-relay.c, accept_source): only the peer's source is heard
 * and answered. The peer is where its SDP says, or (behind NAT) the source of a run of in-sequence packets while
 * the SDP address has sent nothing; signalling (a re-INVITE) moves it. Every other source is dropped and counted.
 * Waits are on counts the relay reports, bounded, never fixed sleeps.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { RtpEndpoint, type RtpStatsSnapshot } from '../../media-task/rtp/rtp-endpoint.ts';
import { pcmuStream } from '../support/pcmu-stream.ts';
import { relayPath } from '../support/media-task-bundle.ts';
import { waitFor } from '../support/nginx-rtmp.ts';
import { buildRtp, parseRtp } from '../support/rtp-packet.ts';

interface Peer {
  socket: Socket;
  address: string;
  port: number;
  /** The first payload byte of every RTP packet received: 0xff is our comfort silence. */
  received: number[];
  send: (sequence: number, options?: { ssrc?: number; label?: number }) => void;
}

const stream = (remotePort: number) => pcmuStream(remotePort);

describe('strict RTP', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  let endpoint: RtpEndpoint;
  const peer = async (address = '127.0.0.1'): Promise<Peer> => {
    const socket = createSocket('udp4');
    const received: number[] = [];
    socket.on('message', (message) => {
      const packet = parseRtp(message);
      if (packet) received.push(message[packet.payloadOffset]!);
    });
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    cleanups.push(() => socket.close());
    const send: Peer['send'] = (sequence, { ssrc = 7, label = 0x55 } = {}) =>
      socket.send(
        buildRtp(
          { marker: false, payloadType: 0, sequence, timestamp: sequence * 160, ssrc },
          Buffer.alloc(160, label),
        ),
        endpoint.port,
        '127.0.0.1',
      );
    return { socket, address, port: socket.address().port, received, send };
  };

  /** An answered call: the peer's SDP names `phone`, the relay forwards to `ffmpeg` and sends comfort silence. */
  const call = async () => {
    endpoint = await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath() });
    cleanups.push(() => endpoint.close());
    const [phone, ffmpeg] = [await peer(), await peer()];
    endpoint.connect(stream(phone.port), ffmpeg.port);
    endpoint.startComfortSilence(stream(phone.port));
    return { phone, ffmpeg };
  };
  /** Stats once the relay has seen `total` packets, heard or dropped. */
  const statsAfter = async (total: number): Promise<RtpStatsSnapshot> => {
    let stats: RtpStatsSnapshot = await endpoint.stats();
    await waitFor(
      async () => {
        stats = await endpoint.stats();
        return stats.packets + stats.foreignDropped >= total;
      },
      2_000,
      `${total} packets at the relay`,
    );
    return stats;
  };
  /** `count` more of our silence packets at `at`: the outgoing stream keeps going there. */
  const moreSilence = async (at: Peer, count: number) => {
    const from = at.received.length;
    await waitFor(
      () => at.received.length >= from + count,
      2_000,
      `${count} silence packets at ${at.address}:${at.port}`,
    );
  };

  it.each([
    ['another address', '127.0.0.2'],
    ["another port of the peer's address", '127.0.0.1'],
  ])(
    'drops and counts media from %s, in sequence or not; our RTP stays at the peer',
    async (_name, strangerAddress) => {
      const { phone, ffmpeg } = await call();
      const stranger = await peer(strangerAddress);
      for (let i = 0; i < 10; i++) phone.send(100 + i);
      await statsAfter(10);
      // A run much longer than the one that latches a NAT'd peer: the peer's source is confirmed, nothing moves it.
      for (let i = 0; i < 50; i++) stranger.send(5000 + i, { ssrc: 0xbad, label: 0x33 });
      stranger.send(1, { ssrc: 0xbad, label: 0x33 });
      const stats = await statsAfter(61);
      expect(stats).toMatchObject({ packets: 10, foreignDropped: 51 });
      await moreSilence(phone, 5);
      expect(stranger.received).toEqual([]);
      expect(ffmpeg.received).not.toContain(0x33);
      expect(ffmpeg.received.filter((label) => label === 0x55).length).toBeGreaterThan(0);
    },
  );

  it("does not let foreign packets keep a quiet call alive: they are not the peer's last packet", async () => {
    const { phone } = await call();
    const stranger = await peer('127.0.0.2');
    for (let i = 0; i < 3; i++) phone.send(i);
    const { lastPacketAt } = await statsAfter(3);
    await waitFor(() => Date.now() > lastPacketAt! + 5, 1_000, 'the clock to move on');
    for (let i = 0; i < 20; i++) stranger.send(i, { label: 0x33 });
    expect(await statsAfter(23)).toMatchObject({ packets: 3, foreignDropped: 20, lastPacketAt });
  });

  // The SDP address has sent nothing yet: a NAT'd peer is latched after five packets in a row (one SSRC,
  // consecutive sequence numbers); the packets of the run before the latch are dropped.
  it.each<[string, Array<[number, number?]>, { latched: boolean; packets: number; foreignDropped: number }]>([
    ['five in a row latch the source', [[1], [2], [3], [4], [5]], { latched: true, packets: 1, foreignDropped: 4 }],
    ['four do not', [[1], [2], [3], [4]], { latched: false, packets: 0, foreignDropped: 4 }],
    [
      'a sequence gap starts the run again',
      [[1], [2], [3], [5], [6], [7], [8]],
      { latched: false, packets: 0, foreignDropped: 7 },
    ],
    [
      'a new SSRC starts the run again',
      [[1], [2], [3], [4, 8], [5, 8], [6, 8], [7, 8]],
      { latched: false, packets: 0, foreignDropped: 7 },
    ],
    [
      'a repeated packet starts the run again',
      [[1], [2], [2], [3], [4], [5]],
      { latched: false, packets: 0, foreignDropped: 6 },
    ],
    [
      'after the latch, the rest is heard',
      [[1], [2], [3], [4], [5], [6], [7]],
      { latched: true, packets: 3, foreignDropped: 4 },
    ],
  ])('a peer behind NAT: %s', async (_name, sent, expected) => {
    const { phone } = await call();
    const nat = await peer('127.0.0.2');
    let latched: { address: string; port: number } | undefined;
    endpoint.on('sourceLatched', (source) => (latched = source));
    for (const [sequence, ssrc] of sent) nat.send(sequence, { ssrc: ssrc ?? 7 });
    expect(await statsAfter(sent.length)).toMatchObject({
      packets: expected.packets,
      foreignDropped: expected.foreignDropped,
    });
    // Our silence goes where the peer is: its latched source, else its SDP address.
    await moreSilence(expected.latched ? nat : phone, 5);
    expect(latched).toEqual(expected.latched ? { address: '127.0.0.2', port: nat.port } : undefined);
    if (expected.latched) {
      const atPhone = phone.received.length;
      await moreSilence(nat, 5);
      expect(phone.received.length - atPhone).toBeLessThanOrEqual(1);
    } else {
      expect(nat.received).toEqual([]);
    }
  });

  it("keeps a NAT'd peer latched against a stranger and a repeated SDP (a session refresh), and gives way to its SDP address", async () => {
    const { phone, ffmpeg } = await call();
    const nat = await peer('127.0.0.2');
    const stranger = await peer('127.0.0.3');
    for (let i = 1; i <= 6; i++) nat.send(i);
    await statsAfter(6);
    // Latched and confirmed: a stranger's run is dropped, however long.
    for (let i = 1; i <= 20; i++) stranger.send(i, { ssrc: 0xbad, label: 0x33 });
    // A session refresh repeats the SDP address: what was learned stays.
    endpoint.setRemote(stream(phone.port));
    expect(await statsAfter(26)).toMatchObject({ packets: 2, foreignDropped: 24 });
    await moreSilence(nat, 5);
    expect(stranger.received).toEqual([]);
    expect(ffmpeg.received).not.toContain(0x33);
    // The SDP address is the signalling's word: once it sends, it is the peer, and the learned source is not.
    phone.send(50, { label: 0x44 });
    await statsAfter(27);
    await moreSilence(phone, 3);
    nat.send(7);
    expect(await statsAfter(28)).toMatchObject({ packets: 3, foreignDropped: 25 });
    const atNat = nat.received.length;
    await moreSilence(phone, 5);
    expect(nat.received.length - atNat).toBeLessThanOrEqual(1);
  });

  it('follows an address change by signalling (a re-INVITE with a new c=/m=): at once, and only there', async () => {
    const { phone, ffmpeg } = await call();
    const moved = await peer('127.0.0.2');
    for (let i = 1; i <= 5; i++) phone.send(i);
    await statsAfter(5);
    await moreSilence(phone, 3);
    // The re-INVITE's answer: our RTP goes to the new address before it has sent anything.
    endpoint.setRemote({ ...stream(moved.port), remoteAddress: '127.0.0.2' });
    await moreSilence(moved, 5);
    // The new address is heard; the old one's packets are dropped, stragglers and a long run alike.
    for (let i = 1; i <= 5; i++) moved.send(1000 + i, { ssrc: 9, label: 0x66 });
    await statsAfter(10);
    for (let i = 6; i <= 25; i++) phone.send(i, { label: 0x33 });
    expect(await statsAfter(30)).toMatchObject({ packets: 10, foreignDropped: 20 });
    const atPhone = phone.received.length;
    await moreSilence(moved, 5);
    expect(phone.received.length - atPhone).toBeLessThanOrEqual(1);
    await waitFor(() => ffmpeg.received.includes(0x66), 2_000, "the new address's media at ffmpeg");
    expect(ffmpeg.received).not.toContain(0x33);
  });
});
