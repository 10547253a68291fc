/**
 * Hostile datagrams at the RTP relay (media-task/relay/rtp-relay.c): anyone who can reach the media port can
 * send anything, and the relay parses it in C. It runs here built with AddressSanitizer and UBSan, which abort
 * it at an out-of-bounds access they can see or an undefined operation, and is fed seeded, reproducible
 * mutations of RTP (lying CSRC counts, extension lengths and padding; RTCP types; truncations; random bytes)
 * between real packets, from the peer's address and from a stranger's. It must live through them, count as RTP
 * exactly what the TypeScript parser (test/support/rtp-packet.ts) accepts, the peer's as its packets and the
 * stranger's as foreign (strict RTP), keep forwarding the real packets, and keep its comfort silence going.
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../shared/log.ts';
import { RtpEndpoint } from '../../media-task/rtp/rtp-endpoint.ts';
import { buildRtp, parseRtp } from '../support/rtp-packet.ts';
import { fuzzSettings, Prng } from './fuzz.ts';

/** Datagrams between two real packets, and between pauses: small enough for the relay's receive buffer. */
const BURST = 20;
/** Of those, from a stranger's address. */
const STRANGER_BURST = 6;
const SOURCE = fileURLToPath(new URL('../../media-task/relay/rtp-relay.c', import.meta.url));

/** A datagram that looks like RTP to a quick glance and lies in one or more of its length fields. */
function mutated(prng: Prng): Buffer {
  if (prng.chance(0.15)) return Buffer.from(Array.from({ length: prng.int(1600) }, () => prng.int(256)));
  const payload = Buffer.from(Array.from({ length: prng.int(prng.chance(0.1) ? 1500 : 200) }, () => prng.int(256)));
  const packet = buildRtp(
    {
      marker: prng.chance(0.5),
      payloadType: prng.pick([0, 8, 101, 72, 76, prng.int(128)]),
      sequence: prng.int(65536),
      timestamp: prng.int(2 ** 32),
      ssrc: prng.pick([7, prng.int(2 ** 32)]),
    },
    payload,
  );
  // Version 2, with random padding, extension and CSRC-count bits: the lengths they imply rarely fit.
  packet[0] = 0x80 | (prng.int(8) << 4) | prng.int(16);
  if (prng.chance(0.3) && packet.length >= 16) packet.writeUInt16BE(prng.int(65536), 14);
  if (prng.chance(0.3)) packet[packet.length - 1] = prng.int(256);
  return prng.chance(0.2) ? packet.subarray(0, prng.int(packet.length + 1)) : packet;
}

const listen = async (onMessage: (message: Buffer) => void, address = '127.0.0.1'): Promise<Socket> => {
  const socket = createSocket('udp4');
  socket.on('message', onMessage);
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
};

describe('RTP relay under hostile datagrams (ASan + UBSan build)', () => {
  let dir: string;
  let relay: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'relay-asan-'));
    relay = join(dir, 'rtp-relay');
    await promisify(execFile)('cc', [
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all',
      '-g',
      '-O1',
      '-o',
      relay,
      SOURCE,
    ]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lives through thousands of mutated packets, forwards the real ones among them, keeps its silence going', async () => {
    const { seed, iterations } = fuzzSettings('rtp relay fuzz', 6000);
    const prng = new Prng(seed);
    const reported: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: (message, fields) => reported.push(`${message} ${JSON.stringify(fields)}`),
      error: (message, fields) => reported.push(`${message} ${JSON.stringify(fields)}`),
      child: () => logger,
    };
    const forwarded: Buffer[] = [];
    let silence = 0;
    const ffmpeg = await listen((message) => forwarded.push(message));
    const phone = await listen(() => silence++);
    let strangerGot = 0;
    const stranger = await listen(() => strangerGot++, '127.0.0.2');
    const endpoint = await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay, logger });
    try {
      const stream = {
        kind: 'audio',
        remoteAddress: '127.0.0.1',
        remotePort: phone.address().port,
        payloadType: 0,
        codec: 'PCMU',
        clockRate: 8000,
        channels: 1,
        peerDirection: 'sendrecv',
      } as const;
      endpoint.connect(stream, ffmpeg.address().port);
      endpoint.startComfortSilence(stream);
      const real = Buffer.alloc(160, 0x42);
      let sequence = 0;
      // What the relay should count: every datagram the TypeScript parser takes for RTP, by source.
      let rtp = 0;
      let foreign = 0;
      for (let sent = 0; sent < iterations; sent += BURST) {
        const burst = Array.from({ length: BURST }, () => mutated(prng));
        // The real peer, from the same address, goes on between the bursts.
        burst.push(
          buildRtp({ marker: false, payloadType: 0, sequence, timestamp: sequence * 160, ssrc: 0x5eed }, real),
        );
        sequence++;
        for (const datagram of burst) {
          if (parseRtp(datagram)) rtp++;
          phone.send(datagram, endpoint.port, '127.0.0.1');
        }
        for (let i = 0; i < STRANGER_BURST; i++) {
          const datagram = mutated(prng);
          if (parseRtp(datagram)) foreign++;
          stranger.send(datagram, endpoint.port, '127.0.0.1');
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const silenceBefore = silence;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const stats = await endpoint.stats();
      expect(reported.filter((line) => /relay/.test(line))).toEqual([]);
      // The C parser accepts exactly what the TypeScript one does (bursts small enough that loopback drops none).
      expect(stats.packets).toBe(rtp);
      expect(stats.foreignDropped).toBe(foreign);
      expect(strangerGot).toBe(0);
      // Real packets reached ffmpeg (a mutated one can claim their sequence numbers first: some, not all).
      const realOut = forwarded
        .map((datagram) => parseRtp(datagram))
        .filter(
          (packet, index) => packet && forwarded[index]!.subarray(packet.payloadOffset).every((byte) => byte === 0x42),
        );
      expect(realOut.length).toBeGreaterThan(0);
      // Comfort silence still going after the storm: ~10 packets in 200 ms.
      expect(silence - silenceBefore).toBeGreaterThanOrEqual(5);
    } finally {
      endpoint.close();
      ffmpeg.close();
      phone.close();
      stranger.close();
    }
  });
});
