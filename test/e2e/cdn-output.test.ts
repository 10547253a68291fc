/**
 * CDN-grade output of the media task, as a process, against sipp (a PCMU tone) and real RTMP servers: a video
 * track for audio-only calls, several destinations each riding out its own outage, RTMPS, and an output that
 * keeps its pace when the peer's RTP stops. What arrived is read back with ffprobe, packet by packet.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationStatus, StateEvent } from '../../shared/call-types.ts';
import { freePort } from '../support/free-port.ts';
import { checkTimeline, measureTone, probe, probeVideo } from '../support/media-check.ts';
import { makeToneWav, MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';

let dir: string;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdn-e2e-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function nginx(): Promise<NginxRtmp> {
  const server = await NginxRtmp.start();
  cleanup.push(() => server.stop());
  return server;
}

async function sipp(scenario: string, keys: Record<string, string> = {}): Promise<SippPeer> {
  const peer = await SippPeer.start({ scenario, media: true, cwd: dir, keys, timeoutSeconds: 60 });
  cleanup.push(() => peer.close());
  return peer;
}

async function task(...args: Parameters<typeof MediaTaskProcess.start>): Promise<MediaTaskProcess> {
  const started = await MediaTaskProcess.start(...args);
  cleanup.push(() => started.close());
  return started;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The destination statuses of the task's stats events, in order. */
function destinationReports(run: MediaTaskProcess): DestinationStatus[][] {
  return run.events.flatMap((event: StateEvent) =>
    event.type === 'stats' && event.destinations ? [event.destinations] : [],
  );
}

describe('media task CDN output', () => {
  it('audio-only call: slate video, two destinations plus a refusing one; one server down mid-call comes back, the other never stops', async () => {
    const [a, b] = [await nginx(), await nginx()];
    const refusing = `rtmp://127.0.0.1:${await freePort()}/live`;
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({
        hasVideo: true, // the default: the peer sends no video, so the slate fills the track
        title: 'Town hall: call 42',
        rtmpUrl: a.url,
        rtmpStream: 'main',
        destinations: [
          { url: b.url, stream: 'backup' },
          { url: refusing, stream: 'never' },
        ],
        connection: { sipPort: peer.port },
      }),
    );
    const answered = await run.waitForEvent('answered');
    const streaming = await run.waitForEvent('streaming');
    const startupMs = Date.parse(streaming.at) - Date.parse(answered.at);
    console.log(`answered → streaming with a slate encoded for this title: ${startupMs} ms`);
    // A new title's slate is encoded while the phone rings (sipp answers at once here): ~0.8 s of it shows.
    expect(startupMs).toBeLessThan(2500);
    await sleep(3_000);
    await b.kill();
    await waitFor(
      () => destinationReports(run).some((report) => report[1]?.state === 'retrying'),
      10_000,
      'destination 2 to be reported down',
    );
    await sleep(3_000);
    await b.restart();
    const restartedAt = Date.now();
    await waitFor(() => destinationReports(run).at(-1)?.[1]?.state === 'live', 20_000, 'destination 2 to come back');
    console.log(`destination 2 back ${Date.now() - restartedAt} ms after its server`);
    await sleep(5_000);
    run.terminate();
    const final = await run.final(15_000);
    expect(final).toMatchObject({ type: 'ended', by: 'local' });
    expect(await run.exited).toMatchObject({ code: 0 });
    expect((await peer.finished()).code).toBe(0);

    const last = destinationReports(run).at(-1)!;
    expect(last.map((d) => d.url)).toEqual([`${a.url}/***`, `${b.url}/***`, `${refusing}/***`]);
    expect(last[0], JSON.stringify(last[0])).toMatchObject({ reconnects: 0 });
    expect(last[1]!.reconnects).toBeGreaterThanOrEqual(1);
    expect(last[2]).toMatchObject({ state: expect.stringMatching(/retrying|connecting/), bytesOut: 0 });
    expect(last[2]!.lastError).toMatch(/refused/i);
    expect(run.logLines.join('\n')).not.toMatch(/\/(main|backup|never)\b/);

    // The destination that never went down: one continuous recording of the whole call, CDN-shaped.
    const main = await a.waitForRecording('main');
    const probed = await probe(main);
    expect(probed.streams).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'audio', codec: 'aac', sampleRate: 44100, channels: 2 }),
        expect.objectContaining({ type: 'video', codec: 'h264', width: 1280, height: 720 }),
      ]),
    );
    expect(await probeVideo(main)).toMatchObject({ profile: 'Main', pixFmt: 'yuv420p' });
    const callSeconds = final.type === 'ended' ? final.durationSeconds : 0;
    console.log(`main: ${probed.durationSeconds.toFixed(2)} s of a ${callSeconds} s call`);
    expect(Math.abs(probed.durationSeconds - callSeconds)).toBeLessThan(1.5);
    const timeline = await checkTimeline(main);
    console.log(
      `main: largest gap audio ${timeline.largestGap.audio} s video ${timeline.largestGap.video} s; keyframes every ${[...new Set(timeline.keyframeIntervals)].join('/')} s; A/V offset start ${timeline.avOffset.start.toFixed(3)} end ${timeline.avOffset.end.toFixed(3)} s`,
    );
    expect(timeline.monotonic).toBe(true);
    expect(timeline.largestGap.audio).toBeLessThan(0.1);
    expect(timeline.largestGap.video).toBeLessThan(0.1);
    expect(timeline.keyframeIntervals.length).toBeGreaterThan(3);
    for (const interval of timeline.keyframeIntervals) expect(Math.abs(interval - 2)).toBeLessThan(0.05);
    // The audio track starts after the video: 0.06 s when audio went to ffmpeg as 20 ms packets, 0.10 s as 60 ms
    // ones (rtp-joiner.ts). The end offset did not move: the audio starts later, it is not shifted.
    expect(timeline.avOffset.start).toBeLessThan(0.15);
    expect(timeline.avOffset.end).toBeLessThan(0.1);
    expect((await measureTone(main)).frequencyHz).toBeGreaterThan(950);

    // The restarted server has the stream again (its recording restarts with the new publish).
    const backup = await b.waitForRecording('backup');
    const again = await probe(backup);
    expect(again.streams.map((stream) => stream.codec).sort()).toEqual(['aac', 'h264']);
    expect(again.durationSeconds).toBeGreaterThan(3);
    const backupTimeline = await checkTimeline(backup);
    expect(backupTimeline.packets.find((packet) => packet.type === 'video')?.keyframe).toBe(true);
  });

  it('one destination, published by the encoder itself: its server down mid-call comes back, the call and its restart budget untouched', async () => {
    const server = await nginx();
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({ hasVideo: true, rtmpUrl: server.url, rtmpStream: 'only', connection: { sipPort: peer.port } }),
    );
    await run.waitForEvent('streaming');
    await sleep(2_000);
    await server.kill();
    await waitFor(
      () => destinationReports(run).some((report) => report[0]?.state === 'retrying'),
      10_000,
      'the destination to be reported down',
    );
    await sleep(2_000);
    await server.restart();
    await waitFor(() => destinationReports(run).at(-1)?.[0]?.state === 'live', 20_000, 'the destination to come back');
    await sleep(4_000);
    run.terminate();
    expect(await run.final(15_000)).toMatchObject({ type: 'ended', by: 'local' });
    expect((await peer.finished()).code).toBe(0);
    expect(destinationReports(run).at(-1)![0]!.reconnects).toBeGreaterThanOrEqual(1);
    // An RTMP outage is the destination's to ride out, not an encoder death counted against MAX_ENCODER_RESTARTS.
    expect(run.logLines.join('\n')).not.toContain('encoder died');
    const again = await server.waitForRecording('only');
    expect((await probe(again)).streams.map((stream) => stream.codec).sort()).toEqual(['aac', 'h264']);
    expect((await checkTimeline(again)).packets.find((packet) => packet.type === 'video')?.keyframe).toBe(true);
    expect((await measureTone(again)).frequencyHz).toBeGreaterThan(950);
  });

  it('keeps the output going through a 5 s RTP pause (silence + slate) and resumes the tone', async () => {
    const server = await nginx();
    const peer = await sipp('uas-tone-pause.xml');
    const run = await task(
      testCallSpec({ video: 'slate', rtmpUrl: server.url, rtmpStream: 'pause', connection: { sipPort: peer.port } }),
    );
    await run.waitForEvent('streaming');
    await sleep(10_000);
    run.terminate();
    const final = await run.final(15_000);
    expect(final).toMatchObject({ type: 'ended', by: 'local' });
    expect((await peer.finished()).code).toBe(0);
    const file = await server.waitForRecording('pause');
    const timeline = await checkTimeline(file);
    const probed = await probe(file);
    console.log(
      `RTP pause: ${probed.durationSeconds.toFixed(2)} s recorded; largest gap audio ${timeline.largestGap.audio} s video ${timeline.largestGap.video} s`,
    );
    expect(timeline.monotonic).toBe(true);
    expect(timeline.largestGap.audio).toBeLessThan(1);
    expect(timeline.largestGap.video).toBeLessThan(1);
    expect(probed.durationSeconds).toBeGreaterThan(9);
    // Tone, then silence where the RTP stopped, then the tone again.
    const before = await measureTone(file, { fromSeconds: 0.2, toSeconds: 1.6 });
    const gap = await measureTone(file, { fromSeconds: 3, toSeconds: 6.5 });
    const after = await measureTone(file, { fromSeconds: 8, toSeconds: probed.durationSeconds - 0.3 });
    console.log(
      `tone ${before.frequencyHz.toFixed(0)} Hz rms ${before.rms.toFixed(3)} | gap rms ${gap.rms.toFixed(4)} | tone ${after.frequencyHz.toFixed(0)} Hz rms ${after.rms.toFixed(3)}`,
    );
    expect(Math.abs(before.frequencyHz - 1000)).toBeLessThan(50);
    expect(gap.rms).toBeLessThan(0.01);
    expect(Math.abs(after.frequencyHz - 1000)).toBeLessThan(50);
  });

  it('publishes over RTMPS (TLS, the certificate checked against RTMPS_CA_FILE) with a waveform video track', async () => {
    const server = await nginx();
    const { url: rtmps, caFile } = await server.startTls();
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({ video: 'waveform', rtmpUrl: rtmps, rtmpStream: 'secure', connection: { sipPort: peer.port } }),
      { RTMPS_CA_FILE: caFile },
    );
    await run.waitForEvent('streaming');
    await sleep(5_000);
    run.terminate();
    expect(await run.final(15_000)).toMatchObject({ type: 'ended' });
    const file = await server.waitForRecording('secure');
    const probed = await probe(file);
    expect(probed.streams).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'audio', codec: 'aac' }),
        expect.objectContaining({ type: 'video', codec: 'h264', width: 640, height: 360 }),
      ]),
    );
    const timeline = await checkTimeline(file);
    console.log(
      `RTMPS waveform: ${probed.durationSeconds.toFixed(2)} s, keyframes every ${[...new Set(timeline.keyframeIntervals)].join('/')} s`,
    );
    // With one keyframe or none there is no interval, and the loop below would pass on nothing. A keyframe every
    // 2 s puts one in each whole 2 s of the recording.
    const keyframes = timeline.packets.filter((packet) => packet.type === 'video' && packet.keyframe).length;
    expect(keyframes).toBeGreaterThan(1);
    expect(keyframes).toBeGreaterThanOrEqual(Math.floor(probed.durationSeconds / 2));
    for (const interval of timeline.keyframeIntervals) expect(Math.abs(interval - 2)).toBeLessThan(0.1);
    expect(destinationReports(run).at(-1)?.[0]).toMatchObject({ url: `${rtmps}/***`, reconnects: 0 });
  });

  it('refuses an RTMPS server whose certificate does not verify: the call fails with reason rtmp, nothing recorded', async () => {
    const server = await nginx();
    // The self-signed certificate is in no system CA store.
    const { url: rtmps } = await server.startTls();
    const peer = await sipp('uas-tone.xml');
    const run = await task(
      testCallSpec({ rtmpUrl: rtmps, rtmpStream: 'untrusted', connection: { sipPort: peer.port } }),
    );
    const final = await run.final(20_000);
    expect(final).toMatchObject({ type: 'failed', reason: 'rtmp' });
    expect(run.types()).not.toContain('streaming');
    expect(run.logLines.join('\n')).toMatch(/certificate|verif/i);
    await expect(server.waitForRecording('untrusted', { timeoutMs: 1_000 })).rejects.toThrow();
  });
});
