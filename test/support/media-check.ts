/**
 * What a recorded file really holds: ffprobe for codecs, rates and duration; ffmpeg-decoded PCM for the
 * dominant frequency of a test tone.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnedProcess } from '../../shared/owned-process.ts';

export interface ProbedStream {
  type: string;
  codec: string;
  sampleRate?: number;
  channels?: number;
  width?: number;
  height?: number;
}

export interface Probe {
  durationSeconds: number;
  streams: ProbedStream[];
}

export async function probe(path: string): Promise<Probe> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-print_format',
    'json',
    '-show_format',
    '-show_streams',
    path,
  ]);
  const json = JSON.parse(stdout) as {
    format?: { duration?: string };
    streams?: Array<{
      codec_type: string;
      codec_name: string;
      sample_rate?: string;
      channels?: number;
      width?: number;
      height?: number;
      duration?: string;
    }>;
  };
  const streams = (json.streams ?? []).map((s) => ({
    type: s.codec_type,
    codec: s.codec_name,
    ...(s.sample_rate ? { sampleRate: Number(s.sample_rate) } : {}),
    ...(s.channels ? { channels: s.channels } : {}),
    ...(s.width ? { width: s.width, height: s.height } : {}),
  }));
  return { durationSeconds: Number(json.format?.duration ?? NaN), streams };
}

export interface FlvPacket {
  type: 'audio' | 'video';
  /** Seconds, as the FLV tag carries it (ms resolution). */
  dts: number;
  keyframe: boolean;
}

export interface TimelineCheck {
  packets: FlvPacket[];
  /** Largest step between consecutive packets of one kind, in seconds. */
  largestGap: { audio: number; video: number };
  /** Whether every kind's timestamps never go back. */
  monotonic: boolean;
  /** Seconds between consecutive video keyframes. */
  keyframeIntervals: number[];
  /** |first audio − first video| and |last audio − last video|, seconds: how far apart the tracks start and end. */
  avOffset: { start: number; end: number };
}

/** Every packet's timestamp in a recording, and what a CDN's ingest checks about them. */
export async function checkTimeline(path: string): Promise<TimelineCheck> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-print_format',
    'json',
    '-show_entries',
    'packet=codec_type,dts_time,flags',
    path,
  ]);
  const json = JSON.parse(stdout) as { packets?: Array<{ codec_type: string; dts_time?: string; flags?: string }> };
  const packets = (json.packets ?? [])
    .filter((p) => (p.codec_type === 'audio' || p.codec_type === 'video') && p.dts_time !== undefined)
    .map((p) => ({
      type: p.codec_type as 'audio' | 'video',
      dts: Number(p.dts_time),
      keyframe: (p.flags ?? '').startsWith('K'),
    }));
  const largestGap = { audio: 0, video: 0 };
  let monotonic = true;
  const last: Partial<Record<'audio' | 'video', number>> = {};
  const first: Partial<Record<'audio' | 'video', number>> = {};
  for (const packet of packets) {
    const previous = last[packet.type];
    if (previous !== undefined) {
      if (packet.dts < previous) monotonic = false;
      largestGap[packet.type] = Math.max(largestGap[packet.type], packet.dts - previous);
    }
    first[packet.type] ??= packet.dts;
    last[packet.type] = packet.dts;
  }
  const keys = packets.filter((p) => p.type === 'video' && p.keyframe).map((p) => p.dts);
  const keyframeIntervals = keys.slice(1).map((dts, index) => Math.round((dts - keys[index]!) * 1000) / 1000);
  const offset = (a?: number, b?: number) => (a === undefined || b === undefined ? NaN : Math.abs(a - b));
  return {
    packets,
    largestGap,
    monotonic,
    keyframeIntervals,
    avOffset: { start: offset(first.audio, first.video), end: offset(last.audio, last.video) },
  };
}

/** Video codec details CDNs care about: profile and pixel format of the first video stream. */
export async function probeVideo(
  path: string,
): Promise<{ codec: string; profile: string; pixFmt: string; width: number; height: number } | undefined> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-print_format',
    'json',
    '-show_entries',
    'stream=codec_name,profile,pix_fmt,width,height',
    path,
  ]);
  const stream = (
    JSON.parse(stdout) as {
      streams?: Array<{ codec_name: string; profile: string; pix_fmt: string; width: number; height: number }>;
    }
  ).streams?.[0];
  return (
    stream && {
      codec: stream.codec_name,
      profile: stream.profile,
      pixFmt: stream.pix_fmt,
      width: stream.width,
      height: stream.height,
    }
  );
}

/** Longer than a period of any tone the tests play (the lowest is 440 Hz), shorter than one 20 ms RTP packet. */
const PAUSE_SECONDS = 0.01;

export interface ToneMeasure {
  frequencyHz: number;
  /** RMS of the measured window, 0..1 of full scale: near 0 means silence. */
  rms: number;
  seconds: number;
}

/**
 * Dominant frequency of the first audio stream, from its upward zero crossings with hysteresis (so codec noise
 * around zero does not count) over the file (or the window `fromSeconds`..`toSeconds` of it) minus its first and
 * last `trimSeconds` (encoder start, fade-out). It is the mean period of the sounding part: a pause between two
 * crossings longer than PAUSE_SECONDS (a silence the gateway filled while RTP was late, say) is left out, since
 * it holds no period of any tone; two tones in turns still average to neither.
 */
export async function measureTone(
  path: string,
  {
    trimSeconds = 0.3,
    fromSeconds,
    toSeconds,
  }: { trimSeconds?: number; fromSeconds?: number; toSeconds?: number } = {},
): Promise<ToneMeasure> {
  const rate = 48000;
  // Through a file: OwnedProcess reads output as text lines, and PCM is not text.
  const dir = await mkdtemp(join(tmpdir(), 'media-check-'));
  let stdout: Buffer;
  try {
    const pcm = join(dir, 'tone.raw');
    // A window of the recording (output-side -ss/-to: exact, decoded from the start).
    const window = [
      ...(fromSeconds !== undefined ? ['-ss', String(fromSeconds)] : []),
      ...(toSeconds !== undefined ? ['-to', String(toSeconds)] : []),
    ];
    await run('ffmpeg', [
      '-v',
      'error',
      '-i',
      path,
      '-map',
      '0:a:0',
      ...window,
      '-ac',
      '1',
      '-ar',
      String(rate),
      '-f',
      's16le',
      pcm,
    ]);
    stdout = await readFile(pcm);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const total = Math.floor(stdout.length / 2);
  const skip = Math.min(Math.floor(trimSeconds * rate), Math.floor(total / 4));
  const from = skip;
  const to = total - skip;
  let sumSquares = 0;
  for (let i = from; i < to; i++) sumSquares += (stdout.readInt16LE(i * 2) / 32768) ** 2;
  const count = Math.max(1, to - from);
  const rms = Math.sqrt(sumSquares / count);
  const threshold = rms * 0.3 * 32768;
  const pause = PAUSE_SECONDS * rate;
  let periods = 0;
  let sounding = 0;
  let state = 0;
  let last = -1;
  for (let i = from; i < to; i++) {
    const sample = stdout.readInt16LE(i * 2);
    const next = sample > threshold ? 1 : sample < -threshold ? -1 : state;
    if (next !== state && state !== 0 && next === 1) {
      // Upward crossings only, whole periods between two of them, so partial periods do not skew it.
      if (last >= 0 && i - last <= pause) {
        periods++;
        sounding += i - last;
      }
      last = i;
    }
    state = next;
  }
  const frequencyHz = periods > 0 ? (periods * rate) / sounding : 0;
  return { frequencyHz, rms, seconds: count / rate };
}

async function run(command: string, args: string[]): Promise<{ stdout: string }> {
  const lines: string[] = [];
  const process = await OwnedProcess.start({
    name: command,
    command,
    args,
    diesWithOwner: true,
    onLine: (line, stream) => stream === 'stdout' && lines.push(line),
  });
  const exit = await process.exited;
  if (exit.code !== 0) throw new Error(`${command} exited ${exit.code}: ${process.lastLines().join('\n')}`);
  return { stdout: lines.join('\n') };
}
