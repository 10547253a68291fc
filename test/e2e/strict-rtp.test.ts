/**
 * Strict RTP end to end (media-task/relay/rtp-relay.c, accept_source): the media task, as a process, in a call
 * with a real peer, while a stranger on another loopback address (127.0.0.2) streams at the task's audio port.
 * The broadcast must carry only the peer's audio, the peer must keep getting our RTP, the stranger none of it,
 * and the call's stats must count what was dropped. And a re-INVITE that moves the peer's media is followed.
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateEvent } from '../../shared/call-types.ts';
import { useCleanup } from '../support/cleanup.ts';
import { freeRtpPort } from '../support/free-port.ts';
import { measureTone } from '../support/media-check.ts';
import { makeToneWav, MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { buildRtp } from '../support/rtp-packet.ts';
import { SippPeer } from '../support/sipp.ts';

let dir: string;
let nginx: NginxRtmp;
const { owned, defer } = useCleanup();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strict-rtp-e2e-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A UDP socket on a loopback address; what it receives is counted. */
async function udp(address: string, port = 0): Promise<{ socket: Socket; port: number; received: () => number }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve());
  });
  defer(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  let received = 0;
  socket.on('message', () => received++);
  return { socket, port: socket.address().port, received: () => received };
}

/** The m=audio ports in sipp's trace, in order: our INVITE's (the task's audio port), then sipp's answer's. */
async function audioPorts(peer: SippPeer): Promise<number[]> {
  return [...(await peer.messages()).matchAll(/^\s*m=audio (\d+) /gm)].map((match) => Number(match[1]));
}

/**
 * What the kernel holds for the UDP socket bound to 127.0.0.1:`port` (/proc/net/udp): bytes queued unread and
 * datagrams dropped on a full buffer. sipp's rtp_stream socket sends and never reads, so what arrives there piles
 * up in one or the other.
 */
async function udpBacklog(port: number): Promise<number> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const line = (await readFile('/proc/net/udp', 'utf8'))
    .split('\n')
    .find((row) => row.trim().split(/\s+/)[1] === local);
  if (!line) throw new Error(`no UDP socket on 127.0.0.1:${port}`);
  const fields = line.trim().split(/\s+/);
  return parseInt(fields[4]!.split(':')[1]!, 16) + Number(fields.at(-1));
}

/** Sends `payload` as 20 ms PCMU packets (one SSRC, consecutive numbers) at the real-time pace; resolves when done. */
async function stream(
  from: Socket,
  to: number,
  payload: Buffer,
  { ssrc, firstSequence = 1 }: { ssrc: number; firstSequence?: number },
): Promise<number> {
  const count = Math.floor(payload.length / 160);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const sequence = firstSequence + i;
    from.send(
      buildRtp(
        { marker: i === 0, payloadType: 0, sequence, timestamp: sequence * 160, ssrc },
        payload.subarray(i * 160, (i + 1) * 160),
      ),
      to,
      '127.0.0.1',
    );
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (i + 1) * 20 - performance.now())));
  }
  return count;
}

const lastStats = (events: StateEvent[]) => {
  const stats = events.filter((event) => event.type === 'stats').at(-1);
  if (stats?.type !== 'stats') throw new Error('no stats event');
  return stats;
};

describe('strict RTP against a real peer', () => {
  it('keeps a 440 Hz stranger off a 1 kHz sipp call: the broadcast stays 1 kHz, the peer keeps our RTP, the drops are counted', async () => {
    const tone440 = join(dir, 'tone-440.ul');
    await promisify(execFile)('sox', [
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      '-e',
      'u-law',
      '-t',
      'raw',
      tone440,
      'synth',
      '3',
      'sine',
      '440',
    ]);
    const peer = owned(await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, timeoutSeconds: 40 }));
    const run = owned(
      await MediaTaskProcess.start(
        testCallSpec({ hasAudio: true, rtmpUrl: nginx.url, rtmpStream: 'strict1', connection: { sipPort: peer.port } }),
      ),
    );
    await run.waitForEvent('streaming');
    const [gatewayAudio, peerAudio] = await audioPorts(peer);
    expect(gatewayAudio).toBeGreaterThan(0);
    expect(peerAudio).toBeGreaterThan(0);
    // sipp's media socket holds our comfort silence (it never reads it).
    const backlogAtStart = await udpBacklog(peerAudio!);
    const stranger = await udp('127.0.0.2');
    // In real time, one SSRC and consecutive numbers: a run that a rule latching on any in-sequence source takes.
    const sent = await stream(stranger.socket, gatewayAudio!, await readFile(tone440), { ssrc: 0x5742 });
    await waitFor(async () => (await udpBacklog(peerAudio!)) > backlogAtStart, 2_000, 'our RTP at the peer');
    run.terminate();
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'local' });
    expect((await peer.finished()).code).toBe(0);

    const stats = lastStats(run.events);
    const tone = await measureTone(await nginx.waitForRecording('strict1'));
    console.log(
      `strict RTP: ${stats.rtpForeignDropped} of ${sent} stranger packets dropped, ${stranger.received()} of ours at the stranger; the broadcast measured ${tone.frequencyHz.toFixed(0)} Hz`,
    );
    expect(Math.abs(tone.frequencyHz - 1000)).toBeLessThan(50);
    expect(stranger.received()).toBe(0);
    expect(stats.rtpForeignDropped).toBe(sent);
    expect(stats.rtpPackets).toBeGreaterThan(100);
  });

  it("follows a re-INVITE that moves the peer's media to another address: our RTP goes there, the old address is dropped", async () => {
    const before = await udp('127.0.0.1', await freeRtpPort());
    const after = await udp('127.0.0.2');
    const peer = owned(
      await SippPeer.start({
        scenario: 'reinvite-move-media.xml',
        keys: { audio_port: String(before.port), moved_ip: '127.0.0.2', moved_port: String(after.port) },
        timeoutSeconds: 40,
      }),
    );
    const run = owned(
      await MediaTaskProcess.start(
        testCallSpec({ hasAudio: true, rtmpUrl: nginx.url, rtmpStream: 'moved1', connection: { sipPort: peer.port } }),
      ),
    );
    await run.waitForEvent('streaming');
    const [gatewayAudio] = await audioPorts(peer);
    // Our comfort silence at the answer's address: the relay has it, and hears the peer's packets from there.
    await waitFor(() => before.received() >= 5, 5_000, "our RTP at the answer's address");
    const heardBefore = await stream(before.socket, gatewayAudio!, Buffer.alloc(160 * 10, 0xff), { ssrc: 1 });
    // sipp's cue to move its media (its scenario waits for an INFO).
    run.command({ type: 'dtmf', digits: '1', method: 'info' });
    await waitFor(() => run.logLines.some((line) => line.includes('peer changed the media')), 5_000, 'the re-INVITE');
    await waitFor(() => after.received() >= 5, 2_000, 'our RTP at the moved address');
    const atOldAddress = before.received();
    // Stragglers from the old address (fewer than the run that latches a NAT'd peer), then the new one speaks.
    const stragglers = await stream(before.socket, gatewayAudio!, Buffer.alloc(160 * 3, 0xff), {
      ssrc: 1,
      firstSequence: 11,
    });
    const heardAfter = await stream(after.socket, gatewayAudio!, Buffer.alloc(160 * 20, 0xff), { ssrc: 2 });
    expect(before.received() - atOldAddress).toBeLessThanOrEqual(1);
    run.terminate();
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'local' });
    // sipp exits 1 unless our answer to its re-INVITE kept a=sendrecv.
    expect((await peer.finished()).code, await peer.errors()).toBe(0);
    expect(lastStats(run.events)).toMatchObject({
      rtpPackets: heardBefore + heardAfter,
      rtpForeignDropped: stragglers,
    });
  });
});
