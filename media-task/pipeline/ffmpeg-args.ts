/**
 * Pure: what ffmpeg gets for one call. The input is an SDP describing the RTP our endpoints forward to
 * 127.0.0.1 (RFC 4566); the output is FLV to RTMP(S). Never a shell string: an argument array in which the
 * output URL (with its stream name) is one element.
 */
import type { NegotiatedMedia, NegotiatedStream } from '../sip/sdp.ts';

export class FfmpegArgsError extends Error {
  override name = 'FfmpegArgsError';
}

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

export interface FfmpegInvocation {
  sdp: string;
  args: string[];
  /** The output URL, for ffmpeg's log lines to be masked with. */
  target: string;
}

/**
 * `sdpPath` is where the caller writes `sdp`. Latency: ffmpeg probes an SDP input until `probesize` bytes or
 * `analyzeduration` of media (0 means its 5 s default) have gone by, even once it knows every codec, because the
 * SDP demuxer declares it has no header. Audio needs no probing (the rtpmap says codec, rate and channels), so a
 * 32-byte probe ends it at the first packet. H.264 copied into FLV needs the picture size: with
 * sprop-parameter-sets the first slice of any kind activates the SPS, so 0.2 s of analysis suffices; without
 * them ffmpeg must see an in-band SPS (the first IDR), hence a full second.
 */
export function buildFfmpegArgs(media: NegotiatedMedia, ports: PipelinePorts, output: RtmpOutput, sdpPath: string): FfmpegInvocation {
  const target = rtmpTarget(output);
  const sdp = buildInputSdp(media, ports);
  const video = media.video;
  const probe = !video
    ? { probesize: '32', analyzeduration: '0' }
    : /sprop-parameter-sets=/i.test(video.fmtp ?? '')
      ? { probesize: '5000000', analyzeduration: '200000' }
      : { probesize: '5000000', analyzeduration: '1000000' };
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel', 'info',
    '-nostats',
    '-progress', 'pipe:1',
    '-stats_period', '0.1',
    '-protocol_whitelist', 'file,udp,rtp',
    '-fflags', 'nobuffer',
    '-probesize', probe.probesize,
    '-analyzeduration', probe.analyzeduration,
    '-max_delay', '200000',
    '-reorder_queue_size', '64',
    '-f', 'sdp',
    '-i', sdpPath,
  ];
  if (media.audio) {
    const codec = AUDIO_CODECS[media.audio.codec.toUpperCase()]!;
    args.push('-map', '0:a:0', '-c:a', 'aac', '-ar', String(codec.aacRate), '-b:a', '128k');
  }
  if (video) args.push('-map', '0:v:0', '-c:v', 'copy');
  args.push('-flush_packets', '1', '-f', 'flv', target);
  return { sdp, args, target };
}
