/**
 * The media task end to end, as a process, against a real SIP peer (sipp) and a real RTMP server (nginx-rtmp):
 * what arrives at the RTMP server is checked with ffprobe and a tone measurement.
 */
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateEvent } from '../../shared/call-types.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { useCleanup } from '../support/cleanup.ts';
import { freePort, freeRtpPort } from '../support/free-port.ts';
import { measureTone, probe } from '../support/media-check.ts';
import { taskFfmpegPath } from '../support/media-task-bundle.ts';
import { makeToneWav, MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { encoderPids } from '../support/proc-stats.ts';
import { SippPeer } from '../support/sipp.ts';

let dir: string;
let nginx: NginxRtmp;
const { owned, defer } = useCleanup();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'media-task-e2e-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function sipp(scenario: string, keys: Record<string, string> = {}) {
  return owned(await SippPeer.start({ scenario, media: true, cwd: dir, keys, timeoutSeconds: 40 }));
}

async function task(...args: Parameters<typeof MediaTaskProcess.start>) {
  return owned(await MediaTaskProcess.start(...args));
}

/** A UDP socket standing in for the peer's RTP port: what the task sends the peer lands in `packets`. */
async function peerRtpPort() {
  const port = await freeRtpPort();
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  defer(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const packets: Buffer[] = [];
  socket.on('message', (packet) => packets.push(packet));
  return { port, packets };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const seconds = (from: StateEvent, to: StateEvent) => (Date.parse(to.at) - Date.parse(from.at)) / 1000;

describe('media task against a sipp UAS streaming a 1 kHz PCMU tone', () => {
  it('publishes AAC at 1 kHz for as long as the call lasts, and SIGTERM sends BYE and exits 0', async () => {
    const peer = await sipp('uas-tone.xml');
    const spec = testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'tone1', connection: { sipPort: peer.port } });
    const run = await task(spec);
    const answered = await run.waitForEvent('answered');
    const streaming = await run.waitForEvent('streaming');
    expect(seconds(answered, streaming)).toBeLessThan(1.5);
    // The encoder was started while the call was set up, for the PCMU answer sipp gives.
    expect(run.logLines.find((line) => line.includes('"ffmpeg started"'))).toContain('"fromSpare":true');
    // The task's own ffmpeg (media-task/ffmpeg/build.sh), not whichever the PATH has.
    const [encoder] = await encoderPids(run.pid!);
    expect(await readlink(`/proc/${encoder}/exe`)).toBe(await realpath(await taskFfmpegPath()));
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    run.terminate();
    const final = await run.final(10_000);
    expect(await run.exited).toMatchObject({ code: 0 });
    expect(run.types()).toEqual(['dialing', 'ringing', 'answered', 'streaming', 'ended']);
    expect(final).toMatchObject({ type: 'ended', by: 'local' });
    expect((await peer.finished()).code).toBe(0); // sipp's scenario ends only with our BYE answered
    expect(await peer.received('BYE ')).toHaveLength(1);

    const recording = await nginx.waitForRecording('tone1');
    const probed = await probe(recording);
    expect(probed.streams.map((stream) => stream.codec)).toEqual(['aac']);
    const measured = await measureTone(recording);
    expect(measured.frequencyHz).toBeGreaterThan(950);
    expect(measured.frequencyHz).toBeLessThan(1050);
    const callSeconds = final.type === 'ended' ? final.durationSeconds : 0;
    expect(Math.abs(probed.durationSeconds - callSeconds)).toBeLessThan(1);
    // Sequence numbers increase by one, so the control plane can order what EventBridge reorders.
    expect(run.events.map((event) => event.seq)).toEqual(run.events.map((_, index) => index + 1));
    expect(run.logLines.join('\n')).not.toContain(spec.connection.sipPassword);
  });

  it('ends cleanly when the peer hangs up, with the duration of the call', async () => {
    const peer = await sipp('uas-tone-remote-bye.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'remotebye', connection: { sipPort: peer.port } }),
    );
    const final = await run.final();
    expect(final).toMatchObject({ type: 'ended', by: 'remote' });
    expect(final.type === 'ended' && final.durationSeconds).toBeGreaterThan(2);
    expect(await run.exited).toMatchObject({ code: 0 });
    expect((await peer.finished()).code).toBe(0);
    expect((await probe(await nginx.waitForRecording('remotebye'))).durationSeconds).toBeGreaterThan(2);
  });

  it('logs and ignores stdin lines that are not task commands, streams on, and still obeys a valid hangup', async () => {
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'badcommands', connection: { sipPort: peer.port } }),
    );
    await run.waitForEvent('streaming');
    const garbage = [
      'not json',
      '{"type":',
      'null',
      '42',
      '{"type":"reboot"}',
      '{"type":"dtmf"}',
      '{"type":"dtmf","digits":"<script>"}',
      '{"type":"dtmf","digits":"1","method":"telepathy"}',
    ];
    for (const line of garbage) run.writeLine(line);
    const ignored = () => run.logLines.filter((line) => line.includes('"invalid task command ignored"'));
    await waitFor(() => ignored().length === garbage.length, 5_000, 'every bad command logged');
    expect(ignored().every((line) => JSON.parse(line).level === 'error')).toBe(true);
    await sleep(1_000);
    expect(run.types()).toEqual(['dialing', 'ringing', 'answered', 'streaming']);
    run.command({ type: 'hangup' });
    expect(await run.final(10_000)).toMatchObject({ type: 'ended', by: 'local' });
    expect(await run.exited).toMatchObject({ code: 0 });
    expect((await peer.finished()).code).toBe(0);
  });

  it('keeps the broadcast alive across a hold re-INVITE (a=sendonly), answering a=recvonly', async () => {
    const peer = await sipp('uas-tone-hold.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'hold1', connection: { sipPort: peer.port } }),
    );
    await run.waitForEvent('streaming');
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(run.types()).not.toContain('ended');
    run.terminate();
    await run.final();
    // sipp exits 1 when our 200 to its re-INVITE lacks a=recvonly (ereg check_it on that response).
    expect((await peer.finished()).code).toBe(0);
    const probed = await probe(await nginx.waitForRecording('hold1'));
    expect(probed.durationSeconds).toBeGreaterThan(4);
    expect(run.logLines.some((line) => line.includes('peer changed the media'))).toBe(true);
  });

  it('counts the RTP timeout from the end of a hold, not from the last packet before it', async () => {
    const peer = await sipp('uas-tone-hold-resume.xml');
    // Held with no RTP for 5 s, longer than the timeout: a hold is silence the call expects. The tone returns
    // 1.5 s after the resume, which a timeout counted from the last packet before the hold would not wait for.
    const run = await task(
      testCallSpec({
        hasAudio: true,
        rtpTimeoutSeconds: 3,
        rtmpUrl: nginx.url,
        rtmpStream: 'resume1',
        connection: { sipPort: peer.port },
      }),
    );
    await run.waitForEvent('streaming');
    await waitFor(
      async () => run.logLines.filter((line) => line.includes('peer changed the media')).length === 2,
      15_000,
      'the hold and the resume',
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(run.types()).not.toContain('ended');
    run.terminate();
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'local' });
    // sipp exits 1 when our answers lack a=inactive, then a=sendrecv.
    expect((await peer.finished()).code).toBe(0);
  });

  it('restarts a killed encoder within 2 s and the call goes on', async () => {
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'restart1', connection: { sipPort: peer.port } }),
    );
    await run.waitForEvent('streaming');
    const encoder = async () => (await encoderPids(run.pid!))[0];
    const first = await encoder();
    expect(first).toBeDefined();
    process.kill(first!, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => ((await encoder()) ?? first) !== first, 2_000, 'a new encoder');
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(run.types(), run.logLines.filter((line) => /"level":"(warn|error)"/.test(line)).join('\n')).not.toContain(
      'failed',
    );
    run.terminate();
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'local' });
    expect(run.logLines.filter((line) => /"level":"(warn|error)"/.test(line)).join('\n')).toContain(
      'encoder died; restarting it',
    );
    expect((await peer.finished()).code).toBe(0);
  });

  it('sends dtmf "1,2" as two SIP INFO requests at least 500 ms apart when the answer has no telephone-event', async () => {
    const peer = await sipp('uas-tone-dtmf-info.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'dtmfinfo1', dtmf: '1,2', connection: { sipPort: peer.port } }),
    );
    await run.waitForEvent('streaming');
    await waitFor(async () => (await peer.received('INFO ')).length >= 2, 5_000, 'two INFO requests');
    run.terminate();
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'local' });
    // sipp exits 1 unless it got INFO application/dtmf-relay Signal=1, then Signal=2, each answered 200.
    expect((await peer.finished()).code).toBe(0);
    const infos = await peer.receivedTimed('INFO ');
    expect(infos).toHaveLength(2);
    expect(infos[1]!.at - infos[0]!.at).toBeGreaterThanOrEqual(480); // the ',' pause
  });

  it('fails with reason ffmpeg and hangs up (BYE) once the encoder has died more often than it is restarted', async () => {
    // The encoder (it reads its SDP from stdin, pipe:0) crashes every time: its death is its own (ffmpeg), not a
    // refusing RTMP server's (rtmp).
    const ffmpeg = join(dir, 'ffmpeg-encoder-crashes');
    await writeFile(
      ffmpeg,
      '#!/bin/sh\ncase "$*" in *pipe:0*) echo "simulated encoder crash" >&2; exit 1;; esac\nexec ffmpeg "$@"\n',
    );
    await chmod(ffmpeg, 0o755);
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'encoderdies1', connection: { sipPort: peer.port } }),
      { [TASK_ENV.ffmpegPath]: ffmpeg },
    );
    expect(await run.final()).toMatchObject({
      type: 'failed',
      reason: 'ffmpeg',
      message: expect.stringContaining('simulated encoder crash'),
    });
    expect(run.types()).toEqual(['dialing', 'ringing', 'answered', 'failed']);
    expect(run.logLines.filter((line) => line.includes('encoder died; restarting it'))).toHaveLength(3);
    expect((await peer.finished()).code).toBe(0); // uas-tone ends only with our BYE answered
    expect(await peer.received('BYE ')).toHaveLength(1);
  });

  it('hasAudio false offers audio a=recvonly and sends the peer no comfort silence', async () => {
    const rtp = await peerRtpPort();
    const peer = await sipp('answer-expect-audio-recvonly.xml', { audio_port: String(rtp.port) });
    const run = await task(
      testCallSpec({
        hasAudio: false,
        rtmpUrl: nginx.url,
        rtmpStream: 'recvonly1',
        connection: { sipPort: peer.port },
      }),
    );
    await run.waitForEvent('streaming');
    await sleep(1_000);
    run.terminate();
    await run.final();
    // sipp exits 1 unless the INVITE's audio section says a=recvonly (ereg check_it).
    expect((await peer.finished()).code).toBe(0);
    expect(rtp.packets).toHaveLength(0);
  });

  it('hasAudio true offers audio a=sendrecv and sends the peer PCMU comfort silence at 50 packets/s', async () => {
    const rtp = await peerRtpPort();
    const peer = await sipp('answer-expect-audio-sendrecv.xml', { audio_port: String(rtp.port) });
    const run = await task(
      testCallSpec({ hasAudio: true, rtmpUrl: nginx.url, rtmpStream: 'sendrecv1', connection: { sipPort: peer.port } }),
    );
    await run.waitForEvent('streaming');
    const before = rtp.packets.length;
    await sleep(1_000);
    const inOneSecond = rtp.packets.length - before;
    run.terminate();
    await run.final();
    // sipp exits 1 unless the INVITE's audio section says a=sendrecv (ereg check_it).
    expect((await peer.finished()).code).toBe(0);
    expect(inOneSecond).toBeGreaterThanOrEqual(40);
    expect(inOneSecond).toBeLessThanOrEqual(60);
    expect(new Set(rtp.packets.map((packet) => packet[1]! & 0x7f))).toEqual(new Set([0]));
  });

  it('fails with the SIP code when the peer answers 486 Busy, and streams nothing', async () => {
    const peer = await sipp('busy-486.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: nginx.url, rtmpStream: 'busy1', connection: { sipPort: peer.port } }),
    );
    expect(await run.final()).toMatchObject({ type: 'failed', reason: 'sip', sipCode: 486 });
    expect(run.types()).not.toContain('answered');
    expect(existsSync(nginx.recordingPath('busy1'))).toBe(false);
  });

  it('fails with timeout (after CANCEL) when the callee never answers', async () => {
    const peer = await sipp('ring-no-answer.xml');
    const run = await task(testCallSpec({ connection: { sipPort: peer.port } }), { INVITE_TIMEOUT_SECONDS: '2' });
    await run.waitForEvent('ringing');
    // While it rings, the spare encoder waits for the answer's SDP.
    expect(await encoderPids(run.pid!)).toHaveLength(1);
    expect(await run.final()).toMatchObject({ type: 'failed', reason: 'timeout' });
    expect(run.types()).toEqual(['dialing', 'ringing', 'failed']);
    expect(await peer.received('CANCEL ')).toHaveLength(1);
  });

  it('fails with reason rtmp and hangs up (BYE) when the RTMP server refuses', async () => {
    const peer = await sipp('uas-tone.xml');
    const run = await task(testCallSpec({ rtmpUrl: 'rtmp://127.0.0.1:1/live', connection: { sipPort: peer.port } }));
    expect(await run.final()).toMatchObject({ type: 'failed', reason: 'rtmp' });
    expect(run.types()).not.toContain('streaming');
    expect((await peer.finished()).code).toBe(0);
  });

  it('exits 0 within 10 s of SIGTERM even when the peer never responded', async () => {
    const run = await task(testCallSpec({ connection: { sipPort: await freePort() } }));
    await run.waitForEvent('dialing');
    const started = Date.now();
    run.terminate();
    expect(await run.final(10_000)).toMatchObject({ type: 'ended', by: 'local', reason: 'hangup' });
    expect(await run.exited).toMatchObject({ code: 0 });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('hangs up with reason rtp-timeout when no RTP arrives', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'answer-pcmu.xml', timeoutSeconds: 30 }));
    const run = await task(
      testCallSpec({
        rtmpUrl: nginx.url,
        rtmpStream: 'silent1',
        rtpTimeoutSeconds: 2,
        connection: { sipPort: peer.port },
      }),
    );
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'limit', reason: 'rtp-timeout' });
    expect((await peer.finished()).code).toBe(0);
  });

  it('hangs up with reason rtp-timeout (BYE) when a streaming peer stops sending RTP and never sends BYE', async () => {
    const peer = await sipp('uas-tone-vanish.xml');
    const run = await task(
      testCallSpec({
        rtmpUrl: nginx.url,
        rtmpStream: 'vanish1',
        rtpTimeoutSeconds: 2,
        connection: { sipPort: peer.port },
      }),
    );
    const final = await run.final();
    expect(final).toMatchObject({ type: 'ended', by: 'limit', reason: 'rtp-timeout' });
    expect(run.types()).toEqual(['dialing', 'ringing', 'answered', 'streaming', 'ended']);
    // 2 s of tone, then the 2 s timeout: a call ended sooner timed out on a peer that never streamed.
    expect(final.type === 'ended' && final.durationSeconds).toBeGreaterThan(3.5);
    const stats = run.events.filter((event) => event.type === 'stats').at(-1);
    expect(stats?.type === 'stats' && stats.rtpPackets).toBeGreaterThan(50); // 20 ms packets: 100 in 2 s
    expect((await peer.finished()).code, await peer.errors()).toBe(0); // the scenario ends only with our BYE answered
    expect(await peer.received('BYE ')).toHaveLength(1);
    const tone = await measureTone(await nginx.waitForRecording('vanish1'), { fromSeconds: 0.2, toSeconds: 1.6 });
    expect(Math.abs(tone.frequencyHz - 1000)).toBeLessThan(50);
  });

  it('hangs up at maxDurationSeconds with reason max-duration', async () => {
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({
        rtmpUrl: nginx.url,
        rtmpStream: 'max1',
        maxDurationSeconds: 3,
        connection: { sipPort: peer.port },
      }),
    );
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'limit', reason: 'max-duration' });
    expect((await peer.finished()).code).toBe(0);
  });
});
