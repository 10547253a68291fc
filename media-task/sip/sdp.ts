/**
 * SDP offer/answer for our one-audio, one-video call (RFC 3264 on RFC 4566). Pure: strings in, strings and
 * plain objects out. We offer only what the media pipeline can decode, never rtcp-mux, and answer a peer's
 * re-offer on the same ports so the RTP sockets the caller bound stay valid for the whole call.
 */
import { isIPv4 } from 'node:net';

export type LocalDirection = 'sendrecv' | 'recvonly';
export type PeerDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface LocalMedia {
  /** Advertised public IP, put in `c=` and `o=`. */
  address: string;
  audio?: { port: number; direction: LocalDirection };
  video?: { port: number; direction: LocalDirection };
}

export interface NegotiatedStream {
  kind: 'audio' | 'video';
  remoteAddress: string;
  remotePort: number;
  payloadType: number;
  /** 'PCMU' | 'PCMA' | 'G722' | 'OPUS' | 'H264', upper-case. */
  codec: string;
  clockRate: number;
  channels: number;
  fmtp?: string;
  peerDirection: PeerDirection;
  telephoneEvent?: { payloadType: number; clockRate: number };
}

export interface NegotiatedMedia {
  audio?: NegotiatedStream;
  video?: NegotiatedStream;
}

export class SdpError extends Error {
  override name = 'SdpError';
}

interface Codec {
  payloadType: number;
  name: string;
  clockRate: number;
  channels: number;
  fmtp?: string;
}

const AUDIO_CODECS: readonly Codec[] = [
  { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 },
  { payloadType: 8, name: 'PCMA', clockRate: 8000, channels: 1 },
  // RFC 3551 section 4.5.2: G722's RTP clock rate is 8000 although it samples at 16 kHz.
  { payloadType: 9, name: 'G722', clockRate: 8000, channels: 1 },
  { payloadType: 111, name: 'OPUS', clockRate: 48000, channels: 2 },
];
const TELEPHONE_EVENT: Codec = {
  payloadType: 101,
  name: 'TELEPHONE-EVENT',
  clockRate: 8000,
  channels: 1,
  fmtp: '0-16',
};
const VIDEO_CODECS: readonly Codec[] = [
  {
    payloadType: 96,
    name: 'H264',
    clockRate: 90000,
    channels: 1,
    fmtp: 'packetization-mode=1;profile-level-id=42e01f',
  },
];
/** RFC 3551 table 4: static payload types may come without an rtpmap line. */
const STATIC_PAYLOADS: Record<number, Codec | undefined> = {
  0: AUDIO_CODECS[0],
  8: AUDIO_CODECS[1],
  9: AUDIO_CODECS[2],
};

/** Our initial offer (RFC 3264 section 5). `sessionId` stays the same for every offer/answer of one call. */
export function buildOffer(local: LocalMedia, sessionVersion: number, sessionId = '0'): string {
  const lines = sessionHeader(local.address, sessionVersion, sessionId);
  if (local.audio) {
    lines.push(...mediaSection('audio', local.audio.port, [...AUDIO_CODECS, TELEPHONE_EVENT], local.audio.direction));
    lines.push('a=ptime:20');
  }
  if (local.video) lines.push(...mediaSection('video', local.video.port, VIDEO_CODECS, local.video.direction));
  return lines.join('\r\n') + '\r\n';
}

/**
 * The answer most peers give to our offer, for work that can start before theirs comes (spare-encoder.ts): our
 * first audio codec and no video, as phones, PBXs and audio bridges answer. Only the codecs are meant; where to
 * send is the real answer's to say.
 */
export function likelyAnswer(): NegotiatedMedia {
  const codec = AUDIO_CODECS[0]!;
  const { payloadType, name, clockRate, channels } = codec;
  return {
    audio: {
      kind: 'audio',
      remoteAddress: '0.0.0.0',
      remotePort: 9,
      payloadType,
      codec: name,
      clockRate,
      channels,
      peerDirection: 'sendrecv',
    },
  };
}

/** What the peer's answer to our offer selected: per m-line the first format we offered; port 0 = rejected. */
export function parseAnswer(sdp: string): NegotiatedMedia {
  const session = parseSdp(sdp);
  const media: NegotiatedMedia = {};
  for (const section of session.media) {
    if (section.kind !== 'audio' && section.kind !== 'video') continue;
    if (media[section.kind]) continue;
    const stream = negotiate(section, section.kind === 'audio' ? AUDIO_CODECS : VIDEO_CODECS);
    if (stream) media[section.kind] = stream;
  }
  return media;
}

/**
 * Answers a peer's re-INVITE/UPDATE offer (RFC 3264 section 6 and 8): one m-line per offered m-line in the same
 * order, the offerer's payload type numbers, our existing ports. Hold (RFC 3264 section 8.4) is mirrored.
 */
export function answerReoffer(
  offer: string,
  local: LocalMedia,
  sessionVersion: number,
  sessionId = '0',
): { answer: string; media: NegotiatedMedia } {
  const session = parseSdp(offer);
  const lines = sessionHeader(local.address, sessionVersion, sessionId);
  const media: NegotiatedMedia = {};
  for (const section of session.media) {
    const kind = section.kind === 'audio' || section.kind === 'video' ? section.kind : undefined;
    const ours = kind ? local[kind] : undefined;
    const stream =
      kind && ours && !media[kind] ? negotiate(section, kind === 'audio' ? AUDIO_CODECS : VIDEO_CODECS) : undefined;
    if (!kind || !ours || !stream) {
      lines.push(`m=${section.kind} 0 ${section.protocol} ${section.formats[0] ?? '0'}`);
      continue;
    }
    media[kind] = stream;
    const codecs: Codec[] = [
      {
        payloadType: stream.payloadType,
        name: stream.codec,
        clockRate: stream.clockRate,
        channels: stream.channels,
        fmtp: stream.fmtp,
      },
    ];
    if (stream.telephoneEvent) {
      codecs.push({
        ...TELEPHONE_EVENT,
        payloadType: stream.telephoneEvent.payloadType,
        clockRate: stream.telephoneEvent.clockRate,
      });
    }
    lines.push(
      ...mediaSection(kind, ours.port, codecs, answerDirection(stream.peerDirection, ours.direction), section.protocol),
    );
  }
  return { answer: lines.join('\r\n') + '\r\n', media };
}

/** RFC 3264 section 6.1 direction table, limited by what we want to do ourselves. */
export function answerDirection(peer: PeerDirection, ours: LocalDirection): PeerDirection {
  if (peer === 'inactive') return 'inactive';
  if (peer === 'sendonly') return 'recvonly';
  if (peer === 'recvonly') return ours === 'sendrecv' ? 'sendonly' : 'inactive';
  return ours;
}

function sessionHeader(address: string, version: number, sessionId: string): string[] {
  return ['v=0', `o=- ${sessionId} ${version} IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0'];
}

function mediaSection(
  kind: string,
  port: number,
  codecs: readonly Codec[],
  direction: string,
  protocol = 'RTP/AVP',
): string[] {
  const lines = [`m=${kind} ${port} ${protocol} ${codecs.map((codec) => codec.payloadType).join(' ')}`];
  for (const codec of codecs) {
    const name = codec.name === 'OPUS' ? 'opus' : codec.name === 'TELEPHONE-EVENT' ? 'telephone-event' : codec.name;
    lines.push(
      `a=rtpmap:${codec.payloadType} ${name}/${codec.clockRate}${codec.channels > 1 ? `/${codec.channels}` : ''}`,
    );
    if (codec.fmtp) lines.push(`a=fmtp:${codec.payloadType} ${codec.fmtp}`);
  }
  lines.push(`a=${direction}`);
  return lines;
}

interface MediaSection {
  kind: string;
  port: number;
  protocol: string;
  formats: string[];
  address?: string;
  rtpmap: Map<number, { name: string; clockRate: number; channels: number }>;
  fmtp: Map<number, string>;
  direction?: PeerDirection;
}

interface ParsedSdp {
  address?: string;
  direction?: PeerDirection;
  media: MediaSection[];
}

const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

function parseSdp(sdp: string): ParsedSdp {
  const parsed: ParsedSdp = { media: [] };
  let current: MediaSection | undefined;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    const type = line[0];
    const value = line.slice(2);
    if (line[1] !== '=') continue;
    if (type === 'm') {
      const [kind, port, protocol, ...formats] = value.split(/\s+/);
      const portNumber = Number((port ?? '').split('/')[0]);
      if (!kind || !protocol || !Number.isInteger(portNumber)) throw new SdpError(`malformed m-line: ${line}`);
      current = { kind, port: portNumber, protocol, formats, rtpmap: new Map(), fmtp: new Map() };
      parsed.media.push(current);
    } else if (type === 'c') {
      const address = value.split(/\s+/)[2]?.split('/')[0];
      if (current) current.address = address;
      else parsed.address = address;
    } else if (type === 'a') {
      const [name, ...rest] = value.split(':');
      const attribute = rest.join(':');
      if (name && DIRECTIONS.has(name)) {
        if (current) current.direction = name as PeerDirection;
        else parsed.direction = name as PeerDirection;
      } else if (current && name === 'rtpmap') {
        const match = /^(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(attribute);
        if (match) {
          current.rtpmap.set(Number(match[1]), {
            name: match[2]!.toUpperCase(),
            clockRate: Number(match[3]),
            channels: match[4] ? Number(match[4]) : 1,
          });
        }
      } else if (current && name === 'fmtp') {
        const match = /^(\d+)\s+(.*)$/.exec(attribute);
        if (match) current.fmtp.set(Number(match[1]), match[2]!.trim());
      }
    }
  }
  for (const section of parsed.media) {
    section.direction ??= parsed.direction;
    section.address ??= parsed.address;
  }
  return parsed;
}

/**
 * The first offered codec of a usable m-line. Port 0 is a rejection (RFC 3264 section 6); a port beyond 65535 or
 * an address that is not IPv4 (IPv6, a hostname, "999.1.1.1") is a stream our IPv4 RTP sockets cannot reach.
 */
function negotiate(section: MediaSection, offered: readonly Codec[]): NegotiatedStream | undefined {
  if (section.port < 1 || section.port > 65535 || !section.address || !isIPv4(section.address)) return undefined;
  let chosen: NegotiatedStream | undefined;
  let telephoneEvent: NegotiatedStream['telephoneEvent'];
  for (const format of section.formats) {
    const payloadType = Number(format);
    // RTP carries 7 bits of payload type (RFC 3550 5.1): a larger one can never match a packet.
    if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) continue;
    const map = section.rtpmap.get(payloadType) ?? STATIC_PAYLOADS[payloadType];
    if (!map) continue;
    if (map.name === 'TELEPHONE-EVENT') {
      telephoneEvent ??= { payloadType, clockRate: map.clockRate };
      continue;
    }
    const known = offered.find((codec) => codec.name === map.name && codec.clockRate === map.clockRate);
    if (!known || chosen) continue;
    chosen = {
      kind: section.kind as 'audio' | 'video',
      remoteAddress: section.address,
      remotePort: section.port,
      payloadType,
      codec: known.name,
      clockRate: map.clockRate,
      channels: 'channels' in map ? map.channels : 1,
      fmtp: section.fmtp.get(payloadType),
      peerDirection: section.direction ?? 'sendrecv',
    };
  }
  if (!chosen) return undefined;
  if (telephoneEvent && section.kind === 'audio') chosen.telephoneEvent = telephoneEvent;
  if (chosen.fmtp === undefined) delete chosen.fmtp;
  return chosen;
}
