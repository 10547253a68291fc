/**
 * Pure: the argument arrays of the cheap ffmpeg runs around the call's encoder. A republisher takes the
 * encoder's MPEG-TS from one local UDP port and copies it to one RTMP(S) destination, so each destination can
 * fail, back off and reconnect alone; the recorder copies it from another port into an MP4 file. The slate clip is encoded once and looped by the encoder with `-c copy`.
 */
import { isAbsolute } from 'node:path';
import { FfmpegArgsError, KEYFRAME_SECONDS, PROGRESS_ARGS, rtmpPublishArgs } from './ffmpeg-args.ts';

export interface RepublisherPlan {
  relayPort: number;
  /** rtmp:// or rtmps:// URL with the stream name (rtmpTarget). */
  target: string;
  /** The relayed video: none, ours (slate/waveform, a keyframe every 2 s) or the peer's (any interval). */
  video: 'none' | 'ours' | 'peer';
  /** How long the input may stay silent before ffmpeg gives up (the encoder died or stalled). */
  inputTimeoutMs: number;
  /** A restart joins a running stream: the next keyframe (and its SPS) may be up to one interval away. */
  joinMidStream: boolean;
  /** rtmps:// only: see rtmpPublishArgs. */
  caFile?: string;
}

/**
 * Probing: audio-only TS yields its parameters from the first ADTS header. With video ffmpeg must parse an SPS,
 * sent with each keyframe, and the TS demuxer probes for the whole `analyzeduration`. At the call's start the
 * stream opens on a keyframe (our clip starts with one, the encoder's copy of the peer's video too), so a short
 * probe (0.2 s for ours; the peer's first frames may come late); a restart joining mid-stream
 * waits up to one keyframe interval: ours is 2 s, a phone's is unknown (5 s covers most). Packets read while
 * probing are kept (no `-fflags nobuffer`) and sent in a burst, so the recording misses nothing. Stream copy
 * starts at a keyframe on its own (`-copyinkf` is off), so a CDN never sees a headless GOP.
 */
export function republisherAnalyzeUs(video: RepublisherPlan['video'], joinMidStream: boolean): number {
  if (video === 'none') return 0;
  if (!joinMidStream) return video === 'ours' ? 200_000 : 1_100_000;
  return video === 'ours' ? KEYFRAME_SECONDS * 1_100_000 : 5_000_000;
}

const QUIET = ['-hide_banner', '-nostdin', '-loglevel', 'info', '-nostats'];

/**
 * Reading the encoder's MPEG-TS from a relay port and copying every stream, as republishers and the recorder
 * do; `timeoutMs` ends the input when the relay falls silent that long.
 */
function relayedCopyArgs(
  relayPort: number,
  video: RepublisherPlan['video'],
  analyzeUs: number,
  timeoutMs?: number,
): string[] {
  const timeout = timeoutMs === undefined ? '' : `&timeout=${Math.round(timeoutMs * 1000)}`;
  return [
    '-protocol_whitelist',
    'udp',
    '-probesize',
    video === 'none' ? '32' : '5000000',
    '-analyzeduration',
    String(analyzeUs),
    '-f',
    'mpegts',
    '-i',
    `udp://127.0.0.1:${relayPort}?fifo_size=50000&overrun_nonfatal=1${timeout}`,
    '-map',
    '0',
    '-c',
    'copy',
  ];
}

export function buildRepublisherArgs(plan: RepublisherPlan): string[] {
  return [
    ...QUIET,
    ...PROGRESS_ARGS,
    ...relayedCopyArgs(
      plan.relayPort,
      plan.video,
      republisherAnalyzeUs(plan.video, plan.joinMidStream),
      plan.inputTimeoutMs,
    ),
    ...rtmpPublishArgs(plan.target, plan.caFile),
  ];
}

export interface RecorderPlan {
  relayPort: number;
  /** Absolute path of the file: ours (shared/recording-names.ts), never the caller's text. */
  path: string;
  /** As the republishers' plan: what the relayed stream carries, for the probe. */
  video: RepublisherPlan['video'];
}

/** A fragment at least every second, so a task killed mid-call leaves all but its last second playable. */
const FRAGMENT_US = 1_000_000;

/**
 * The recorder copies the same MPEG-TS as a republisher into a fragmented MP4: an empty `moov` up front, then a
 * `moof`+`mdat` per fragment (at each video keyframe, and at least every FRAGMENT_US for audio, whose every
 * packet is a keyframe), each flushed to the file as it is cut. No input timeout: a held call sends nothing
 * for as long as the hold lasts, and the recording goes on after it. The MP4 muxer wants AAC without ADTS
 * headers, which the TS carries: the bitstream filter takes them off (with an empty moov the muxer cannot insert
 * it itself, the header being written before the first packet).
 */
export function buildRecorderArgs(plan: RecorderPlan): string[] {
  if (!isAbsolute(plan.path) || !/\.mp4$/.test(plan.path))
    throw new FfmpegArgsError('a recording is an absolute .mp4 path');
  return [
    ...QUIET,
    ...relayedCopyArgs(plan.relayPort, plan.video, republisherAnalyzeUs(plan.video, false)),
    '-bsf:a',
    'aac_adtstoasc',
    '-f',
    'mp4',
    '-flush_packets',
    '1',
    '-movflags',
    '+frag_keyframe+empty_moov+default_base_moof',
    '-frag_duration',
    String(FRAGMENT_US),
    '-y',
    // file: so that no part of the path is read as another protocol or an option.
    `file:${plan.path}`,
  ];
}

export interface SlatePlan {
  /** A text file holding the title (drawtext reads it: the title never enters the filter graph). */
  titlePath?: string;
  outPath: string;
  width: number;
  height: number;
  fps: number;
  color: string;
}

/**
 * One GOP of a still: KEYFRAME_SECONDS long, one IDR then P-frames that code "no change" in a few bytes, so
 * looping it yields a keyframe every 2 s at ~40 kbit/s. Main profile, yuv420p: what every CDN ingests.
 * MP4, not MPEG-TS: ffmpeg's TS demuxer loses the first packet (the IDR) each time `-stream_loop` seeks back,
 * so only the first loop had a keyframe; the MP4 one seeks exactly, and the tee's MPEG-TS slaves convert its
 * avcC to Annex B (SPS/PPS before every IDR) on their own.
 */
export function buildSlateArgs(plan: SlatePlan): string[] {
  if (!/^#?[0-9a-fA-F]{6}$/.test(plan.color)) throw new FfmpegArgsError('the slate colour must be RRGGBB hex');
  // The path is ours (a temp dir), but it goes into a filter graph: refuse anything that would need escaping there.
  if (plan.titlePath !== undefined && !/^[A-Za-z0-9_./-]+$/.test(plan.titlePath))
    throw new FfmpegArgsError('unsafe slate title path');
  const frames = plan.fps * KEYFRAME_SECONDS;
  const filters = plan.titlePath
    ? [
        '-vf',
        `drawtext=font=Sans:textfile=${plan.titlePath}:expansion=none:fontcolor=white:fontsize=${Math.round(plan.height / 14)}:x=(w-text_w)/2:y=(h-text_h)/2`,
      ]
    : [];
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `color=c=0x${plan.color.replace('#', '')}:s=${plan.width}x${plan.height}:r=${plan.fps}`,
    ...filters,
    '-frames:v',
    String(frames),
    '-c:v',
    'libx264',
    // veryfast: half the wall time of medium (0.8 s vs 1.6 s here) for a clip 3 % bigger; a still has nothing to gain.
    '-preset',
    'veryfast',
    '-tune',
    'stillimage',
    '-profile:v',
    'main',
    '-pix_fmt',
    'yuv420p',
    '-g',
    String(frames),
    '-keyint_min',
    String(frames),
    '-sc_threshold',
    '0',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    '-y',
    plan.outPath,
  ];
}
