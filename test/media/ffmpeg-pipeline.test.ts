import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../shared/log.ts';
import { FfmpegPipeline, type PipelineDeath } from '../../media-task/pipeline/ffmpeg-pipeline.ts';
import { likelyAnswer, type NegotiatedStream } from '../../media-task/sip/sdp.ts';
import { RtpEndpoint } from '../../media-task/rtp/rtp-endpoint.ts';
import type { OwnedProcess } from '../../shared/owned-process.ts';
import { freePort, freeRtpPort } from '../support/free-port.ts';
import { relayPath, taskFfmpegPath } from '../support/media-task-bundle.ts';
import { measureTone, probe } from '../support/media-check.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startToneSource } from './rtp-source.ts';

const ffmpegPath = await taskFfmpegPath();

const logger = process.env.LOG_LEVEL ? createLogger({ test: 'pipeline' }) : silentLogger;

const pcmu: NegotiatedStream = {
  kind: 'audio',
  remoteAddress: '127.0.0.1',
  remotePort: 9, // the source never listens; symmetric RTP must not matter here
  payloadType: 0,
  codec: 'PCMU',
  clockRate: 8000,
  channels: 1,
  peerDirection: 'sendrecv',
};

const h264: NegotiatedStream = {
  kind: 'video',
  remoteAddress: '127.0.0.1',
  remotePort: 9,
  payloadType: 96,
  codec: 'H264',
  clockRate: 90000,
  channels: 1,
  fmtp: 'packetization-mode=1',
  peerDirection: 'sendrecv',
};

describe('RTP → FfmpegPipeline → nginx-rtmp', () => {
  const cleanups: Array<() => unknown> = [];
  const own = <T>(value: T, cleanup: (value: T) => unknown): T => {
    cleanups.push(() => cleanup(value));
    return value;
  };
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('publishes a PCMU 1 kHz call as AAC at 1 kHz, streaming within 1.5 s of the first RTP packet', async () => {
    const nginx = own(await NginxRtmp.start(), (n) => n.stop());
    const endpoint = own(
      await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    endpoint.setRemote(pcmu);
    const pipeline = own(
      await FfmpegPipeline.start({
        ffmpegPath,
        media: { audio: pcmu },
        outputs: [{ rtmpUrl: nginx.url, rtmpStream: 'tone' }],
        logger,
      }),
      (p) => p.stop(),
    );
    endpoint.forwardTo(pipeline.inputPorts.audio!);
    const firstPacket = new Promise<number>((resolve) => endpoint.once('firstPacket', ({ at }) => resolve(at)));
    const streaming = new Promise<number>((resolve) => pipeline.once('streaming', ({ at }) => resolve(at)));
    const died: PipelineDeath[] = [];
    pipeline.on('died', (death) => died.push(death));

    const seconds = 4;
    const source = own(await startToneSource({ audioPort: endpoint.port, seconds }), (s) => s.close());
    const latencyMs = (await streaming) - (await firstPacket);
    console.log(`first RTP packet → streaming: ${latencyMs} ms`);
    expect(latencyMs).toBeLessThan(1500);
    await source.exited;
    await pipeline.stop();
    expect(died).toEqual([]);
    expect(pipeline.bytesOut).toBeGreaterThan(10_000);

    const file = await nginx.waitForRecording('tone');
    const probed = await probe(file);
    expect(probed.streams).toEqual([expect.objectContaining({ type: 'audio', codec: 'aac', sampleRate: 44100 })]);
    expect(Math.abs(probed.durationSeconds - seconds)).toBeLessThan(1);
    const tone = await measureTone(file);
    console.log(
      `recorded: ${probed.durationSeconds.toFixed(2)} s, tone ${tone.frequencyHz.toFixed(1)} Hz, rms ${tone.rms.toFixed(3)}`,
    );
    expect(tone.frequencyHz).toBeGreaterThan(950);
    expect(tone.frequencyHz).toBeLessThan(1050);
    const stats = await endpoint.stats();
    expect(stats.packets).toBeGreaterThan(seconds * 50 * 0.9);
    expect(stats.lost).toBe(0);
  });

  it('publishes through the spare encoder started for the likely answer: its process carries the call', async () => {
    const nginx = own(await NginxRtmp.start(), (n) => n.stop());
    const endpoint = own(
      await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    endpoint.setRemote(pcmu);
    const source = own(await startToneSource({ audioPort: endpoint.port, seconds: 4 }), (s) => s.close());
    const outputs = [{ rtmpUrl: nginx.url, rtmpStream: 'spare' }];
    const spare = own(FfmpegPipeline.spare({ ffmpegPath, outputs, likely: likelyAnswer() })!, (s) => s.close());
    const spawned = (await spare.spawned)!;
    await new Promise((resolve) => setTimeout(resolve, 500)); // the phone rings: the spare loads meanwhile
    const answeredAt = Date.now();
    const pipeline = own(
      await FfmpegPipeline.start({ ffmpegPath, media: { audio: pcmu }, outputs, spare, logger }),
      (p) => p.stop(),
    );
    expect(spare.taken).toBe(true);
    expect(pipeline.pids).toEqual([spawned.pid]);
    const streaming = new Promise<number>((resolve) => pipeline.once('streaming', ({ at }) => resolve(at)));
    endpoint.forwardTo(pipeline.inputPorts.audio!);
    console.log(`spare encoder: answer → streaming: ${(await streaming) - answeredAt} ms`);
    await source.exited;
    await pipeline.stop();
    const file = await nginx.waitForRecording('spare');
    expect((await probe(file)).streams).toEqual([
      expect.objectContaining({ type: 'audio', codec: 'aac', sampleRate: 44100 }),
    ]);
    expect(Math.abs((await measureTone(file)).frequencyHz - 1000)).toBeLessThan(50);
  });

  it('kills a spare that does not fit the answer (Opus expected, PCMU answered) and publishes through a new encoder', async () => {
    const nginx = own(await NginxRtmp.start(), (n) => n.stop());
    const endpoint = own(
      await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    endpoint.setRemote(pcmu);
    const outputs = [{ rtmpUrl: nginx.url, rtmpStream: 'unfit' }];
    const likely = { audio: { ...pcmu, codec: 'OPUS', payloadType: 111, clockRate: 48000, channels: 2 } };
    const spare = own(FfmpegPipeline.spare({ ffmpegPath, outputs, likely })!, (s) => s.close());
    const spawned = (await spare.spawned)!;
    const pipeline = own(
      await FfmpegPipeline.start({ ffmpegPath, media: { audio: pcmu }, outputs, spare, logger }),
      (p) => p.stop(),
    );
    expect(await spawned.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(spare.taken).toBe(false);
    expect(pipeline.pids).toHaveLength(1);
    expect(pipeline.pids).not.toContain(spawned.pid);
    endpoint.forwardTo(pipeline.inputPorts.audio!);
    // The whole tone before the stop: `streaming` comes with the FLV header, before the first audio frame, and a
    // stop at that moment may leave a recording with no audio in it.
    const seconds = 2;
    await own(await startToneSource({ audioPort: endpoint.port, seconds }), (s) => s.close()).exited;
    await pipeline.stop();
    const file = await nginx.waitForRecording('unfit');
    const probed = await probe(file);
    expect(probed.streams).toEqual([expect.objectContaining({ codec: 'aac', sampleRate: 44100 })]);
    expect(Math.abs(probed.durationSeconds - seconds)).toBeLessThan(1);
    expect(Math.abs((await measureTone(file)).frequencyHz - 1000)).toBeLessThan(50);
  });

  it('has no spare for a call of several destinations: the encoder names relay ports picked at the answer', () => {
    const outputs = [
      { rtmpUrl: 'rtmp://127.0.0.1/live', rtmpStream: 'a' },
      { rtmpUrl: 'rtmp://127.0.0.1/live', rtmpStream: 'b' },
    ];
    expect(FfmpegPipeline.spare({ ffmpegPath, outputs, likely: likelyAnswer() })).toBeUndefined();
  });

  it('keeps streaming across a new SSRC (re-INVITE): one continuous recording', async () => {
    const nginx = own(await NginxRtmp.start(), (n) => n.stop());
    const endpoint = own(
      await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    // A phone's new SSRC after a re-INVITE comes from the address it signalled, as its first one did.
    const peerPort = await freeRtpPort();
    endpoint.setRemote({ ...pcmu, remotePort: peerPort });
    const pipeline = own(
      await FfmpegPipeline.start({
        ffmpegPath,
        media: { audio: pcmu },
        outputs: [{ rtmpUrl: nginx.url, rtmpStream: 'reinvite' }],
        logger,
      }),
      (p) => p.stop(),
    );
    endpoint.forwardTo(pipeline.inputPorts.audio!);
    const changes: number[] = [];
    endpoint.on('sourceChanged', ({ ssrc }) => changes.push(ssrc));
    const died: PipelineDeath[] = [];
    pipeline.on('died', (death) => died.push(death));
    // Two ffmpeg runs pick two random SSRCs, sequence numbers and timestamps, like a phone after a re-INVITE.
    const first = own(await startToneSource({ audioPort: endpoint.port, localAudioPort: peerPort, seconds: 2 }), (s) =>
      s.close(),
    );
    await first.exited;
    const bytesBefore = pipeline.bytesOut;
    const second = own(
      await startToneSource({ audioPort: endpoint.port, localAudioPort: peerPort, seconds: 2, frequency: 1000 }),
      (s) => s.close(),
    );
    await second.exited;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(changes).toHaveLength(1);
    expect(pipeline.running).toBe(true);
    // 2 s more of AAC went out (≥ 32 kbit/s: the fast coder spends far less than 128 kbit/s on a pure tone).
    expect(pipeline.bytesOut).toBeGreaterThan(bytesBefore + 8_000);
    await pipeline.stop();
    expect(died).toEqual([]);
    const file = await nginx.waitForRecording('reinvite');
    const probed = await probe(file);
    console.log(`re-INVITE recording: ${probed.durationSeconds.toFixed(2)} s`);
    expect(probed.durationSeconds).toBeGreaterThan(3.3);
    const tone = await measureTone(file);
    expect(Math.abs(tone.frequencyHz - 1000)).toBeLessThan(50);
  });

  it('publishes PCMU + H.264 as AAC + H.264 copied', async () => {
    const nginx = own(await NginxRtmp.start(), (n) => n.stop());
    const audio = own(
      await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    const video = own(
      await RtpEndpoint.bind({ kind: 'video', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    audio.setRemote(pcmu);
    video.setRemote(h264);
    const pipeline = own(
      await FfmpegPipeline.start({
        ffmpegPath,
        media: { audio: pcmu, video: h264 },
        outputs: [{ rtmpUrl: nginx.url, rtmpStream: 'av' }],
        logger,
      }),
      (p) => p.stop(),
    );
    audio.forwardTo(pipeline.inputPorts.audio!);
    video.forwardTo(pipeline.inputPorts.video!);
    const firstPacket = new Promise<number>((resolve) => audio.once('firstPacket', ({ at }) => resolve(at)));
    const streaming = new Promise<number>((resolve) => pipeline.once('streaming', ({ at }) => resolve(at)));
    const source = own(await startToneSource({ audioPort: audio.port, videoPort: video.port, seconds: 4 }), (s) =>
      s.close(),
    );
    console.log(`audio+video: first RTP packet → streaming: ${(await streaming) - (await firstPacket)} ms`);
    await source.exited;
    await pipeline.stop();
    const file = await nginx.waitForRecording('av');
    const probed = await probe(file);
    expect(probed.streams).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'audio', codec: 'aac' }),
        expect.objectContaining({ type: 'video', codec: 'h264', width: 320, height: 240 }),
      ]),
    );
    // Without sprop-parameter-sets the encoder's probe spends up to 1 s waiting for an in-band SPS (dropped, nobuffer).
    expect(probed.durationSeconds).toBeGreaterThan(2.5);
    expect(probed.durationSeconds).toBeLessThan(4.5);
    expect((await video.stats()).packets).toBeGreaterThan(50);
  });

  it('publishes H.264 with sprop-parameter-sets without probing: streaming fast, mid-GOP join', async () => {
    const nginx = own(await NginxRtmp.start(), (n) => n.stop());
    const audio = own(
      await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    const video = own(
      await RtpEndpoint.bind({ kind: 'video', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    const dir = await mkdtemp(join(tmpdir(), 'sprop-'));
    own(dir, (d) => rm(d, { recursive: true, force: true }));
    const sdpFile = join(dir, 'source.sdp');
    // The source's own SDP carries the sprop-parameter-sets a phone would put in its answer.
    const source = own(
      await startToneSource({ audioPort: audio.port, videoPort: video.port, seconds: 5, sdpFile }),
      (s) => s.close(),
    );
    await waitFor(
      async () => /sprop-parameter-sets=/.test(await readFile(sdpFile, 'utf8').catch(() => '')),
      5_000,
      'source SDP',
    );
    const fmtp = /a=fmtp:96 (.+)/.exec(await readFile(sdpFile, 'utf8'))![1]!.trim();
    const withSprop = { ...h264, fmtp };
    audio.setRemote(pcmu);
    video.setRemote(withSprop);
    const pipeline = own(
      await FfmpegPipeline.start({
        ffmpegPath,
        media: { audio: pcmu, video: withSprop },
        outputs: [{ rtmpUrl: nginx.url, rtmpStream: 'sprop' }],
        logger,
      }),
      (p) => p.stop(),
    );
    const streaming = new Promise<number>((resolve) => pipeline.once('streaming', ({ at }) => resolve(at)));
    const forwardedAt = Date.now();
    audio.forwardTo(pipeline.inputPorts.audio!);
    video.forwardTo(pipeline.inputPorts.video!);
    console.log(`audio+video with sprop: forwarding start → streaming: ${(await streaming) - forwardedAt} ms`);
    await source.exited;
    await pipeline.stop();
    const probed = await probe(await nginx.waitForRecording('sprop'));
    expect(probed.streams).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'audio', codec: 'aac' }),
        expect.objectContaining({ type: 'video', codec: 'h264', width: 320, height: 240 }),
      ]),
    );
  });

  it.each([
    ['PCMA', 8, 8000, 44100],
    ['G722', 9, 8000, 44100],
    ['OPUS', 111, 48000, 48000],
  ])(
    '%s: our comfort silence, looped through RtpEndpoint → ffmpeg, records as silent AAC',
    async (codec, payloadType, clockRate, aacRate) => {
      const nginx = own(await NginxRtmp.start(), (n) => n.stop());
      const receiver = own(
        await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
        (e) => e.close(),
      );
      const sender = own(
        await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
        (e) => e.close(),
      );
      const negotiated: NegotiatedStream = {
        ...pcmu,
        codec,
        payloadType,
        clockRate,
        channels: codec === 'OPUS' ? 2 : 1,
      };
      receiver.setRemote({ ...negotiated, remotePort: sender.port });
      const pipeline = own(
        await FfmpegPipeline.start({
          ffmpegPath,
          media: { audio: negotiated },
          outputs: [{ rtmpUrl: nginx.url, rtmpStream: codec }],
          logger,
        }),
        (p) => p.stop(),
      );
      receiver.forwardTo(pipeline.inputPorts.audio!);
      const streaming = new Promise((resolve) => pipeline.once('streaming', resolve));
      const died: PipelineDeath[] = [];
      pipeline.on('died', (death) => died.push(death));
      expect(sender.startComfortSilence({ ...negotiated, remotePort: receiver.port })).toBe(true);
      await streaming;
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await pipeline.stop();
      sender.close();
      expect(died).toEqual([]);
      const file = await nginx.waitForRecording(codec);
      const probed = await probe(file);
      expect(probed.streams).toEqual([expect.objectContaining({ type: 'audio', codec: 'aac', sampleRate: aacRate })]);
      expect(probed.durationSeconds).toBeGreaterThan(1.5);
      const tone = await measureTone(file, { trimSeconds: 0.1 });
      expect(tone.rms).toBeLessThan(0.001);
    },
  );

  it('dies classified "rtmp" when no RTMP server listens', async () => {
    const port = await freePort();
    const endpoint = own(
      await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath(), logger }),
      (e) => e.close(),
    );
    endpoint.setRemote(pcmu);
    const pipeline = own(
      await FfmpegPipeline.start({
        ffmpegPath,
        media: { audio: pcmu },
        outputs: [{ rtmpUrl: `rtmp://127.0.0.1:${port}/live`, rtmpStream: 'secret-key' }],
        logger,
      }),
      (p) => p.stop(),
    );
    endpoint.forwardTo(pipeline.inputPorts.audio!);
    const died = new Promise<PipelineDeath>((resolve) => pipeline.once('died', resolve));
    const startedAt = Date.now();
    own(await startToneSource({ audioPort: endpoint.port, seconds: 3 }), (s: OwnedProcess) => s.close());
    const death = await died;
    expect(death.classification).toBe('rtmp');
    console.log(`RTMP refused: died after ${Date.now() - startedAt} ms: ${death.message}`);
    expect(death.message).toMatch(/refused/i);
    expect(death.lastLines.join('\n')).not.toContain('secret-key');
    await pipeline.stop(); // after a death, stop is a no-op that still resolves
  });
});
