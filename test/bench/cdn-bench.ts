/**
 * CPU per audio-only call, by video mode: a PCMU tone over RTP through RtpEndpoint and FfmpegPipeline to a
 * local nginx-rtmp, measured from /proc (user + system time of the encoder and every republisher) once the
 * stream is up, plus this process's own CPU (the RTP relay and silence filler run in Node). Goal: ≤ 2 % of one
 * core per call with a slate. Run alone: `npx tsx test/bench/cdn-bench.ts [seconds]`; `runCdnBench` is the
 * section the project bench calls.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../shared/log.ts';
import type { VideoFill } from '../../media-task/pipeline/ffmpeg-args.ts';
import { FfmpegPipeline } from '../../media-task/pipeline/ffmpeg-pipeline.ts';
import type { OwnedProcess } from '../../shared/owned-process.ts';
import { ensureSlateClip } from '../../media-task/pipeline/slate.ts';
import { RtpEndpoint } from '../../media-task/rtp/rtp-endpoint.ts';
import type { NegotiatedStream } from '../../media-task/sip/sdp.ts';
import { startToneSource } from '../media/rtp-source.ts';
import { makeToneWav } from '../support/media-task.ts';
import { relayPath, taskFfmpegPath } from '../support/media-task-bundle.ts';
import { NginxRtmp } from '../support/nginx-rtmp.ts';
import { commandName, processTree, sampleProcess } from '../support/proc-stats.ts';
import { RELAY_FILE } from '../../media-task/config.ts';

/** The tone's stream, as a peer's answer would give it. */
export const pcmu: NegotiatedStream = {
  kind: 'audio',
  remoteAddress: '127.0.0.1',
  remotePort: 9,
  payloadType: 0,
  codec: 'PCMU',
  clockRate: 8000,
  channels: 1,
  peerDirection: 'sendrecv',
};

export interface CdnBenchRow {
  mode: string;
  destinations: number;
  /** % of one core, the encoding ffmpeg. */
  encoderPercent: number;
  /** % of one core, all republishers together. */
  republishersPercent: number;
  /** % of one core, the RTP relay and this Node process (which includes the bench's own bookkeeping). */
  rtpPercent: number;
  totalPercent: number;
  /** What reached the RTMP server, kbit/s. */
  kbps: number;
}

const cpuSeconds = async (pid: number) => (await sampleProcess(pid))?.cpuSeconds ?? 0;

/** The relays this process runs (RtpEndpoint's children). */
async function relayPids(): Promise<number[]> {
  const [, ...children] = await processTree(process.pid);
  const names = await Promise.all(children.map(commandName));
  return children.filter((_, index) => names[index] === RELAY_FILE);
}

async function measure(
  nginx: NginxRtmp,
  tone: string,
  mode: string,
  fill: VideoFill,
  destinations: number,
  seconds: number,
): Promise<CdnBenchRow> {
  const endpoint = await RtpEndpoint.bind({ kind: 'audio', bindAddress: '127.0.0.1', relay: await relayPath() });
  endpoint.setRemote(pcmu);
  const outputs = Array.from({ length: destinations }, (_, index) => ({
    rtmpUrl: nginx.url,
    rtmpStream: `bench-${mode}-${index}`,
  }));
  let pipeline: FfmpegPipeline | undefined;
  let source: OwnedProcess | undefined;
  try {
    const running = (pipeline = await FfmpegPipeline.start({
      media: { audio: pcmu },
      outputs,
      fill,
      ffmpegPath: await taskFfmpegPath(),
      logger: silentLogger,
    }));
    source = await startToneSource({ audioPort: endpoint.port, seconds: seconds + 10, audioFile: tone });
    endpoint.forwardTo(running.inputPorts.audio!);
    await new Promise((resolve, reject) => {
      running.once('streaming', resolve);
      running.once('died', (death) => reject(new Error(death.message)));
    });
    // Let every republisher connect and the start-up burst pass before measuring the steady state.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const pids = running.pids;
    const relays = await relayPids();
    const before = await Promise.all(pids.map(cpuSeconds));
    const relaysBefore = await Promise.all(relays.map(cpuSeconds));
    const nodeBefore = process.cpuUsage();
    const bytesBefore = running.bytesOut;
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const elapsed = (performance.now() - startedAt) / 1000;
    const after = await Promise.all(pids.map(cpuSeconds));
    const relaysAfter = await Promise.all(relays.map(cpuSeconds));
    const node = process.cpuUsage(nodeBefore);
    const percent = (seconds: number) => (seconds / elapsed) * 100;
    const encoderPercent = percent(after[0]! - before[0]!);
    const republishersPercent = percent(
      after.slice(1).reduce((sum, used, index) => sum + used - before[index + 1]!, 0),
    );
    const ffmpegPercent = encoderPercent + republishersPercent;
    const rtpPercent =
      ((node.user + node.system) / 1e6 / elapsed) * 100 +
      percent(relaysAfter.reduce((sum, used, index) => sum + used - relaysBefore[index]!, 0));
    return {
      mode,
      destinations,
      encoderPercent: round(encoderPercent),
      republishersPercent: round(republishersPercent),
      rtpPercent: round(rtpPercent),
      totalPercent: round(ffmpegPercent + rtpPercent),
      kbps: round(((running.bytesOut - bytesBefore) * 8) / 1000 / elapsed / destinations),
    };
  } finally {
    await pipeline?.stop();
    await source?.close();
    endpoint.close();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;

/** One row per video mode (and the slate fanned out to two destinations), `tone` played as the peer's RTP. */
export async function runCdnBench(tone: string, seconds = 20): Promise<CdnBenchRow[]> {
  const nginx = await NginxRtmp.start();
  try {
    const clipPath = await ensureSlateClip({
      title: 'Bench call',
      ffmpegPath: await taskFfmpegPath(),
      logger: silentLogger,
    });
    const rows: CdnBenchRow[] = [];
    rows.push(await measure(nginx, tone, 'none', { kind: 'none' }, 1, seconds));
    rows.push(await measure(nginx, tone, 'slate', { kind: 'slate', clipPath }, 1, seconds));
    rows.push(await measure(nginx, tone, 'slate', { kind: 'slate', clipPath }, 2, seconds));
    rows.push(await measure(nginx, tone, 'waveform', { kind: 'waveform' }, 1, seconds));
    return rows;
  } finally {
    await nginx.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? 20);
  const dir = await mkdtemp(join(tmpdir(), 'cdn-bench-'));
  runCdnBench(await makeToneWav(join(dir, 'tone-1khz.wav'), { seconds: seconds + 30 }), seconds)
    .finally(() => rm(dir, { recursive: true, force: true }))
    .then(
      (rows) => {
        console.log(`CPU per audio-only call (% of one core, ${seconds} s steady state each):`);
        console.table(rows);
      },
      (error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      },
    );
}
