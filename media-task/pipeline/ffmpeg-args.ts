/**
 * Pure: what the call's encoding ffmpeg gets. The input is an SDP describing the RTP our endpoints forward to
 * 127.0.0.1 (RFC 4566), written to its stdin; the output is FLV to the call's one RTMP(S) destination, or MPEG-TS
 * to local relay ports when there are several (relay-args.ts takes it from there). Never a shell string: argument
 * arrays only.
 */
import type { NegotiatedMedia, NegotiatedStream } from '../sip/sdp.ts';

export class FfmpegArgsError extends Error {
  override name = 'FfmpegArgsError';
}

/** One publishing point: `rtmpUrl` + `/` + `rtmpStream`. */
export interface RtmpOutput {
  rtmpUrl: string;
  rtmpStream: string;
}

/** Local UDP ports ffmpeg listens on (each an even port with the next one free for RTCP). */
export interface PipelinePorts {
  audio?: number;
  video?: number;
}

/** Codec name as it goes in ffmpeg's rtpmap, and the AAC rate we encode it to. */
const AUDIO_CODECS: Record<string, { rtpName: string; aacRate: number }> = {
  PCMU: { rtpName: 'PCMU', aacRate: 44100 },
  PCMA: { rtpName: 'PCMA', aacRate: 44100 },
  G722: { rtpName: 'G722', aacRate: 44100 },
  // Opus decodes at 48 kHz; keeping that rate spares a resampler.
  OPUS: { rtpName: 'opus', aacRate: 48000 },
};

/**
 * Builds the RTMP URL ffmpeg publishes to, refusing anything but rtmp:// and rtmps:// and credentials in the
 * URL (they would show in the process list and in ffmpeg's own log lines).
 */
export function rtmpTarget(output: RtmpOutput): string {
  const base = output.rtmpUrl.trim();
  if (!/^rtmps?:\/\/[^/\s]+/i.test(base)) throw new FfmpegArgsError('the RTMP URL must start with rtmp:// or rtmps://');
  if (/^rtmps?:\/\/[^/]*@/i.test(base)) throw new FfmpegArgsError('the RTMP URL must not carry credentials');
  if (/[\s\x00-\x1f\x7f]/.test(base) || /[\x00-\x1f\x7f]/.test(output.rtmpStream)) {
    throw new FfmpegArgsError('the RTMP URL and stream name must not contain spaces or control characters');
  }
  const stream = output.rtmpStream.replace(/^\/+/, '');
  if (!stream) throw new FfmpegArgsError('the RTMP stream name is empty');
  return `${base.replace(/\/+$/, '')}/${stream}`;
}

/** SDP fmtp values come from the peer: one line, no characters that could start another SDP line. */
function safeFmtp(fmtp: string | undefined): string | undefined {
  const value = fmtp?.trim();
  if (!value || /[\r\n\x00]/.test(value)) return undefined;
  return value;
}

function sdpSection(stream: NegotiatedStream, port: number): string[] {
  const pt = stream.payloadType;
  if (stream.kind === 'audio') {
    const codec = AUDIO_CODECS[stream.codec.toUpperCase()];
    if (!codec) throw new FfmpegArgsError(`unsupported audio codec ${stream.codec}`);
    // RFC 7587 4.1: opus is always declared 48000/2, whatever the peer plays.
    const channels = codec.rtpName === 'opus' ? '/2' : stream.channels > 1 ? `/${stream.channels}` : '';
    const lines = [`m=audio ${port} RTP/AVP ${pt}`, `a=rtpmap:${pt} ${codec.rtpName}/${stream.clockRate}${channels}`];
    const fmtp = safeFmtp(stream.fmtp);
    if (fmtp) lines.push(`a=fmtp:${pt} ${fmtp}`);
    return lines;
  }
  if (stream.codec.toUpperCase() !== 'H264') throw new FfmpegArgsError(`unsupported video codec ${stream.codec}`);
  const lines = [`m=video ${port} RTP/AVP ${pt}`, `a=rtpmap:${pt} H264/${stream.clockRate}`];
  // sprop-parameter-sets gives ffmpeg SPS/PPS up front (RFC 6184 8.1), so it need not wait for them in-band.
  const fmtp = safeFmtp(stream.fmtp);
  if (fmtp) lines.push(`a=fmtp:${pt} ${fmtp}`);
  return lines;
}

/** The SDP ffmpeg reads: one m= line per stream, all on 127.0.0.1 where our endpoints forward to. */
export function buildInputSdp(media: NegotiatedMedia, ports: PipelinePorts): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=sip-rtmp-gateway', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const kind of ['audio', 'video'] as const) {
    const stream = media[kind];
    if (!stream) continue;
    const port = ports[kind];
    if (port === undefined) throw new FfmpegArgsError(`no local port for the ${kind} stream`);
    lines.push(...sdpSection(stream, port));
  }
  if (lines.length === 5) throw new FfmpegArgsError('no media to publish');
  return lines.join('\r\n') + '\r\n';
}

/** What fills the video track of a call whose peer sends no video. */
export type VideoFill =
  | { kind: 'none' }
  /** A pre-encoded H.264 MP4 clip (see slate.ts): looped and copied, never re-encoded. */
  | { kind: 'slate'; clipPath: string }
  /** The call's audio drawn as a waveform: one live H.264 encode. */
  | { kind: 'waveform' };

/** Where the encoder's output goes. */
export type EncoderSink =
  /** The call's only destination: the encoder publishes to it itself, and is restarted when it drops. */
  | { kind: 'rtmp'; target: string; caFile?: string }
  /** Local UDP ports, one per destination's republisher (relay-args.ts), each fed the same MPEG-TS. */
  | { kind: 'relay'; ports: readonly number[] };

/** The SDP (buildInputSdp, with the ports) goes to the encoder's stdin, so it is no part of the plan. */
export interface EncoderPlan {
  media: NegotiatedMedia;
  fill: VideoFill;
  sink: EncoderSink;
}

/**
 * Byte counts on stdout once a second, for the stats and the stall watch (destination.ts); the first bytes are
 * told by the header line, so this need not be frequent: at 0.1 s the task parsed 120 lines a second per output.
 */
export const PROGRESS_ARGS = ['-progress', 'pipe:1', '-stats_period', '1'] as const;

/**
 * The FLV output to one RTMP(S) URL (rtmpTarget), for whichever ffmpeg publishes. rtmps:// is verified: ffmpeg
 * checks no certificate unless told (tls_verify defaults off), and the stream key travels inside that
 * connection; `caFile` names the CA certificates to trust instead of the system's.
 */
export function rtmpPublishArgs(target: string, caFile?: string): string[] {
  if (!/^rtmps?:\/\//i.test(target)) throw new FfmpegArgsError('ffmpeg publishes to rtmp:// or rtmps:// only');
  return [
    '-flush_packets',
    '1',
    // The RTMP handshake and publish are small writes, each waiting for an answer: with Nagle's algorithm each
    // waited for the server's delayed ACK too. Publishing to nginx-rtmp took 260 ms from spawn to header, 130 ms
    // with TCP_NODELAY (three runs each), and the first media of a call is that much sooner.
    '-tcp_nodelay',
    '1',
    // A live stream has no duration or size to write back; seeking back in an RTMP stream is not possible anyway.
    '-flvflags',
    'no_duration_filesize',
    ...(/^rtmps:/i.test(target) ? ['-tls_verify', '1', ...(caFile ? ['-ca_file', caFile] : [])] : []),
    '-f',
    'flv',
    target,
  ];
}

/** A keyframe every 2 s, the interval YouTube, Facebook and Twitch ask for. */
export const KEYFRAME_SECONDS = 2;
const WAVEFORM = { size: '640x360', fps: 15 } as const;

/**
 * The one encode of a call: the peer's RTP (SDP input) to AAC, plus its H.264 copied or a video track made up
 * for audio-only calls. With one destination it publishes the FLV itself: a second ffmpeg copying it would cost
 * as much again in memory and a wake-up per packet. With several it muxes once as MPEG-TS and the `tee` muxer
 * sends that to one local UDP port per destination. UDP never refuses and never blocks, so a destination that
 * is down costs the others nothing; the republisher of each port does the RTMP part and can be restarted on
 * its own. MPEG-TS because a republisher (re)started mid-stream resynchronizes on its next PAT/PMT and keyframe.
 *
 * Latency: ffmpeg probes an SDP input until `probesize` bytes or `analyzeduration` of media (0 means its 5 s
 * default) have gone by, even once it knows every codec, because the SDP demuxer declares it has no header.
 * Audio needs no probing (the rtpmap says codec, rate and channels), so a 32-byte probe ends it at the first
 * packet. H.264 copied needs the picture size: with sprop-parameter-sets the first slice of any kind activates
 * the SPS, so 0.2 s of analysis suffices; without them ffmpeg must see an in-band SPS (the first IDR), hence 1 s.
 *
 * The SDP is read from stdin rather than a file: the arguments then name no port, and an encoder spawned for the
 * likely answer before the call is answered (spare-encoder.ts) can be given the real SDP once it is known.
 */
export function buildEncoderArgs(plan: EncoderPlan): string[] {
  const { media, fill, sink } = plan;
  if (sink.kind === 'relay' && sink.ports.length === 0) throw new FfmpegArgsError('no destination to publish to');
  if (!media.audio && !media.video) throw new FfmpegArgsError('no media to publish');
  const video = media.video;
  const probe = !video
    ? { probesize: '32', analyzeduration: '0' }
    : /sprop-parameter-sets=/i.test(video.fmtp ?? '')
      ? { probesize: '5000000', analyzeduration: '200000' }
      : { probesize: '5000000', analyzeduration: '1000000' };
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'info',
    '-nostats',
    ...(sink.kind === 'rtmp' ? PROGRESS_ARGS : []),
    '-protocol_whitelist',
    'pipe,udp,rtp',
    '-fflags',
    'nobuffer',
    '-probesize',
    probe.probesize,
    '-analyzeduration',
    probe.analyzeduration,
    '-max_delay',
    '200000',
    '-reorder_queue_size',
    '64',
    '-f',
    'sdp',
    '-i',
    'pipe:0',
  ];
  const madeUp = video ? undefined : fill.kind === 'none' || !media.audio ? undefined : fill;
  if (madeUp?.kind === 'slate') {
    // -re paces the copy at the clip's own rate; the clip's GOP is the keyframe interval (2 s, baked in).
    args.push('-stream_loop', '-1', '-re', '-f', 'mp4', '-i', madeUp.clipPath);
  }
  const audioCodec = media.audio ? AUDIO_CODECS[media.audio.codec.toUpperCase()]! : undefined;
  // Stereo: what Facebook and YouTube list; the mono call is duplicated in both channels. Two equal channels
  // leave intensity and mid/side stereo nothing to find, and noise substitution nothing to gain at 128 kbit/s
  // from an 8 kHz phone line, yet those searches were most of the encode: a minute of PCMU tone costs 2.19 s of
  // CPU with them, 0.45 s without (the default two-loop coder, mono, as a hand-rolled ffmpeg runs it: 0.66 s).
  const aac = (rate: number) => [
    '-c:a',
    'aac',
    '-aac_coder',
    'fast',
    '-aac_is',
    '0',
    '-aac_ms',
    '0',
    '-aac_pns',
    '0',
    '-ar',
    String(rate),
    '-ac',
    '2',
    '-b:a',
    '128k',
  ];
  if (madeUp?.kind === 'waveform' && audioCodec) {
    // showwaves emits a frame at audio packet boundaries (12.5 fps from 20 ms packets when asked for 15): the fps
    // filter makes it constant, so the GOP in frames is the keyframe interval in seconds.
    args.push(
      '-filter_complex',
      `[0:a:0]asplit=2[aout][wave];[wave]showwaves=s=${WAVEFORM.size}:rate=${WAVEFORM.fps}:mode=cline:colors=white,fps=${WAVEFORM.fps},format=yuv420p[vout]`,
      '-map',
      '[aout]',
      ...aac(audioCodec.aacRate),
      '-map',
      '[vout]',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-pix_fmt',
      'yuv420p',
      '-g',
      String(WAVEFORM.fps * KEYFRAME_SECONDS),
      '-keyint_min',
      String(WAVEFORM.fps * KEYFRAME_SECONDS),
      '-sc_threshold',
      '0',
      '-b:v',
      '400k',
      '-maxrate',
      '400k',
      '-bufsize',
      '800k',
    );
  } else {
    if (audioCodec) args.push('-map', '0:a:0', ...aac(audioCodec.aacRate));
    if (video) args.push('-map', '0:v:0', '-c:v', 'copy');
    else if (madeUp?.kind === 'slate') args.push('-map', '1:v:0', '-c:v', 'copy');
  }
  // A peer's video that stops (hold) must not hold audio back for the muxer's 10 s default.
  args.push('-max_interleave_delta', '500000');
  if (sink.kind === 'rtmp') args.push(...rtmpPublishArgs(sink.target, sink.caFile));
  else
    args.push(
      '-flush_packets',
      '1',
      '-f',
      'tee',
      sink.ports.map((port) => `[f=mpegts:onfail=ignore]udp://127.0.0.1:${port}?pkt_size=1316`).join('|'),
    );
  return args;
}
