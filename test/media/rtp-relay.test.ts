/**
 * The relay's per-packet rules (media-task/relay/rtp-relay.c) by table, through a real relay: what the peer sends
 * in one burst, what ffmpeg gets. A burst reaches the relay within a millisecond, so its batching goes by count
 * alone: the peer's first packet at once (here a primer sent ahead, left out of the tables), then three at a
 * time, the rest once the peer has been quiet for 100 ms.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { RtpEndpoint } from '../../media-task/rtp/rtp-endpoint.ts';
import { buildRtp, parseRtp } from '../support/rtp-packet.ts';
import type { NegotiatedStream } from '../../media-task/sip/sdp.ts';
import { relayPath } from '../support/media-task-bundle.ts';
import { freeRtpPort } from '../support/free-port.ts';
import { sampleProcess } from '../support/proc-stats.ts';

interface Sent {
  sequence: number;
  timestamp?: number;
  ssrc?: number;
  payloadType?: number;
  marker?: boolean;
  bytes?: number;
  /** Sent as it is, without the label. */
  payload?: Buffer;
}

interface Datagram {
  sequence: number;
  timestamp: number;
  marker: boolean;
  /** The first byte of each `frameBytes` chunk: which sent packets the datagram holds. */
  labels: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** 160 ticks a packet, continuous across the sequence wrap. */
const timestampOf = (sequence: number) => ((sequence + 0x10000 - 60000) & 0xffff) * 160;
const timestampIn = (packet: Sent) => packet.timestamp ?? timestampOf(packet.sequence);
const earliest = (packets: Sent[]) => packets.reduce((a, b) => (b.sequence < a.sequence ? b : a));
/** The relay process itself, driven through its stdin. */
const startRelay = async () =>
  OwnedProcess.start({
    name: 'rtp-relay',
    command: await relayPath(),
    args: ['audio', '127.0.0.1', '0', '0'],
    stdin: true,
    diesWithOwner: true,
    readyWhen: (line) => line.startsWith('bound '),
  });
/** Gap-fill silence starts with 0xFF (G.711) or 0xF8 (Opus); labels stay below both. */
const PRIMER = 200;

describe('RTP relay', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  const socket = async (onMessage: (message: Buffer) => void = () => {}): Promise<Socket> => {
    const udp = createSocket('udp4');
    udp.on('message', onMessage);
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => udp.close());
    return udp;
  };

  /** An endpoint forwarding to a socket playing ffmpeg; `burst` sends packets as fast as it can, then waits. */
  const relay = async (codec = { codec: 'PCMU', payloadType: 0, clockRate: 8000 }) => {
    const received: Buffer[] = [];
    const ffmpeg = await socket((message) => received.push(message));
    const phone = await socket();
    const endpoint = await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath() });
    cleanups.push(() => endpoint.close());
    const stream: NegotiatedStream = {
      kind: 'audio',
      remoteAddress: '127.0.0.1',
      remotePort: phone.address().port,
      channels: 1,
      peerDirection: 'sendrecv',
      ...codec,
    };
    endpoint.connect(stream, ffmpeg.address().port);
    const send = (packet: Sent, label: number) => {
      const payload = packet.payload ?? Buffer.alloc(packet.bytes ?? 160, 0);
      if (!packet.payload) payload[0] = label;
      const header = {
        marker: packet.marker ?? false,
        payloadType: packet.payloadType ?? codec.payloadType,
        sequence: packet.sequence & 0xffff,
        timestamp: packet.timestamp ?? timestampOf(packet.sequence),
        ssrc: packet.ssrc ?? 7,
      };
      phone.send(buildRtp(header, payload), endpoint.port, '127.0.0.1');
    };
    /** The primer (one sequence number before the first packet), then the burst; what ffmpeg got after the primer. */
    const burst = async (packets: Sent[], frameBytes = 160): Promise<{ primer: Datagram; out: Datagram[] }> => {
      const first = earliest(packets);
      send(
        {
          ...first,
          sequence: first.sequence - 1,
          timestamp: timestampIn(first) - 160,
          marker: false,
          payloadType: codec.payloadType,
        },
        PRIMER,
      );
      await sleep(30);
      packets.forEach((packet, index) => send(packet, index + 1));
      // The last ones go once the peer has been quiet for 100 ms; the silence filled in after that is left out.
      await sleep(150);
      const datagrams = received
        .map((message) => {
          const packet = parseRtp(message)!;
          const payload = message.subarray(packet.payloadOffset, packet.payloadEnd);
          const labels = Array.from(
            { length: Math.ceil(payload.length / frameBytes) },
            (_, k) => payload[k * frameBytes]!,
          );
          return { sequence: packet.sequence, timestamp: packet.timestamp, marker: packet.marker, labels };
        })
        .filter((datagram) => datagram.labels.every((label) => label <= PRIMER));
      expect(datagrams[0]!.labels).toEqual([PRIMER]);
      return { primer: datagrams[0]!, out: datagrams.slice(1) };
    };
    return { endpoint, burst, send };
  };

  /** Groups of sent packets by position (1-based), as ffmpeg's datagrams hold them. */
  it.each<[string, Sent[], number[][]]>([
    ['three in a row become one 60 ms packet', [1, 2, 3].map((sequence) => ({ sequence })), [[1, 2, 3]]],
    ['a batch out of order is put in order first', [3, 1, 2].map((sequence) => ({ sequence })), [[2, 3, 1]]],
    ['a lost packet splits the batch', [1, 3, 4].map((sequence) => ({ sequence })), [[1], [2, 3]]],
    [
      'a packet later than one sent is dropped',
      [1, 2, 3, 2, 5, 4].map((sequence) => ({ sequence })),
      [
        [1, 2, 3],
        [6, 5],
      ],
    ],
    ['a duplicate is dropped', [1, 2, 2, 3].map((sequence) => ({ sequence })), [[1, 2], [4]]],
    ['across the sequence wrap', [65534, 65535, 65536].map((sequence) => ({ sequence })), [[1, 2, 3]]],
    [
      'a marker or a timestamp jump starts a new packet',
      [{ sequence: 1 }, { sequence: 2, marker: true }, { sequence: 3, timestamp: 99_999 }],
      [[1], [2], [3]],
    ],
    [
      'an RFC 4733 event (another payload type) is not forwarded',
      [{ sequence: 1 }, { sequence: 2, payloadType: 101 }, { sequence: 3 }, { sequence: 4 }],
      [[1], [3, 4]],
    ],
  ])('%s', async (_name, sent, expected) => {
    const { burst } = await relay();
    const { primer, out } = await burst(sent);
    expect(out.map((datagram) => datagram.labels)).toEqual(expected);
    // One number per datagram, none skipped after the primer's: ffmpeg's jitter buffer waits for a missing one.
    expect(out.map((datagram) => (datagram.sequence - primer.sequence) & 0xffff)).toEqual(out.map((_, i) => i + 1));
    // Each datagram is stamped with its first packet's timestamp, on the peer's clock from the primer on.
    const primerIn = timestampIn(earliest(sent)) - 160;
    expect(out.map((datagram) => (datagram.timestamp - primer.timestamp) >>> 0)).toEqual(
      expected.map((group) => (timestampIn(sent[group[0]! - 1]!) - primerIn) >>> 0),
    );
    expect(out.map((datagram) => datagram.marker)).toEqual(
      expected.map((group) => sent[group[0]! - 1]!.marker ?? false),
    );
  });

  it('joins no more than 1200 bytes into one packet', async () => {
    const { burst } = await relay();
    const { out } = await burst(
      [1, 2, 3].map((sequence) => ({ sequence, timestamp: 160 + (sequence - 1) * 500, bytes: 500 })),
      500,
    );
    expect(out.map((datagram) => datagram.labels)).toEqual([[1, 2], [3]]);
  });

  it('only renumbers a codec whose packets do not concatenate (Opus)', async () => {
    const { burst } = await relay({ codec: 'opus', payloadType: 111, clockRate: 48000 });
    const { out } = await burst(
      [1, 2, 3].map((sequence) => ({ sequence, bytes: 3 })),
      3,
    );
    expect(out.map((datagram) => datagram.labels)).toEqual([[1], [2], [3]]);
  });

  it.each<[string, Sent[], { packets: number; lost: number }]>([
    [
      'counts loss from a sequence gap across the wrap',
      [65533, 65534, 65535, 65536, 65538, 65539].map((sequence) => ({ sequence })),
      { packets: 7, lost: 1 },
    ],
    [
      'counts a new SSRC as a new source, not its jump as loss',
      [
        ...[100, 101, 102].map((sequence) => ({ sequence })),
        ...[40000, 40001].map((sequence) => ({ sequence, ssrc: 8 })),
      ],
      { packets: 6, lost: 0 },
    ],
    [
      'counts a restarted numbering on the same SSRC as a new source',
      [{ sequence: 10 }, { sequence: 12 }, { sequence: 30000 }, { sequence: 30001 }],
      { packets: 5, lost: 1 },
    ],
  ])('RFC 3550 A.3: %s', async (_name, sent, expected) => {
    const { endpoint, burst } = await relay();
    await burst(sent);
    expect(await endpoint.stats()).toMatchObject(expected);
  });

  it('estimates jitter (RFC 3550 A.8) from packets 20 ms apart in timestamp arriving at once: J tends to 20 ms', async () => {
    const { endpoint, burst } = await relay();
    await burst(Array.from({ length: 60 }, (_, i) => ({ sequence: 1000 + i })));
    // After the primer and 60 packets, J = 20 ms × (1 − (15/16)^59) ≈ 19.4 ms; timer slack in the burst moves it a little.
    const { jitterMs } = await endpoint.stats();
    expect(jitterMs).toBeGreaterThan(17);
    expect(jitterMs).toBeLessThan(21);
  });

  const pcmu = { codec: 'PCMU', payloadType: 0, clockRate: 8000 };
  const pcma = { codec: 'PCMA', payloadType: 8, clockRate: 8000 };
  const opus = { codec: 'opus', payloadType: 111, clockRate: 48000 };
  const filled = (byte: number) => Buffer.alloc(160, byte);
  it.each<[string, typeof pcmu, Sent[], { levelSamples: number; levelEnergy: number }]>([
    [
      'PCMU code 0x00 is full scale, 32124',
      pcmu,
      [1, 2, 3].map((sequence) => ({ sequence, payload: filled(0x00) })),
      { levelSamples: 480, levelEnergy: 480 * 32124 ** 2 },
    ],
    [
      'PCMU silence (0xFF) is zero',
      pcmu,
      [{ sequence: 1, payload: filled(0xff) }],
      { levelSamples: 160, levelEnergy: 0 },
    ],
    [
      'PCMA code 0xAA is full scale, 32256; its silence (0xD5) is 8',
      pcma,
      [
        { sequence: 1, payload: filled(0xaa) },
        { sequence: 2, payload: filled(0xd5) },
      ],
      { levelSamples: 320, levelEnergy: 160 * 32256 ** 2 + 160 * 8 ** 2 },
    ],
    [
      'telephone-events are not audio',
      pcmu,
      [
        { sequence: 1, payload: filled(0x00) },
        { sequence: 2, payloadType: 101, payload: Buffer.from([1, 0x8a, 0, 160]) },
      ],
      { levelSamples: 160, levelEnergy: 160 * 32124 ** 2 },
    ],
    [
      'Opus is not measured (no decoder here)',
      opus,
      [{ sequence: 1, payload: filled(0x00) }],
      { levelSamples: 0, levelEnergy: 0 },
    ],
  ])('audio level by table: %s', async (_name, codec, sent, expected) => {
    const { endpoint, send } = await relay(codec);
    sent.forEach((packet, index) => send(packet, index));
    await expect.poll(async () => (await endpoint.stats()).packets).toBe(sent.length);
    expect(await endpoint.stats()).toMatchObject(expected);
  });

  it('waits without spinning while ffmpeg has not bound its port yet (the ICMP error is read, not left pending)', async () => {
    const relayProcess = await startRelay();
    cleanups.push(() => void relayProcess.close('SIGKILL', 0));
    let silenceSent = 0;
    const phone = await socket(() => silenceSent++);
    const unbound = await freeRtpPort();
    const silence = 'ff'.repeat(160);
    // Gap fill towards ffmpeg's port and comfort silence to the phone: a send every 20 ms, each one refused.
    relayProcess.writeLine(`stream 0 8000 1 127.0.0.1 ${phone.address().port} ${silence} pcmu`);
    relayProcess.writeLine(`forward ${unbound}`);
    relayProcess.writeLine(`silence 0 8000 ${silence}`);
    const before = await sampleProcess(relayProcess.pid!);
    const sentBefore = silenceSent;
    await sleep(1_000);
    const after = await sampleProcess(relayProcess.pid!);
    // It was working all along: 50 packets a second.
    expect(silenceSent - sentBefore).toBeGreaterThan(40);
    // Waiting costs about 2 ms of CPU a second; the pending error spun the loop at half a core (0.5 s a second).
    expect(after!.cpuSeconds - before!.cpuSeconds).toBeLessThan(0.05);
  });

  it('exits by itself once its stdin closes: its owner is gone', async () => {
    const relayProcess = await startRelay();
    const started = performance.now();
    // close() ends stdin, then signals: SIGCONT ends nothing, and SIGKILL comes only after 5 s.
    const exit = await relayProcess.close('SIGCONT', 5_000);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
