import { describe, expect, it } from 'vitest';
import { buildFfmpegArgs, buildInputSdp, FfmpegArgsError, rtmpTarget } from '../../media-task/pipeline/ffmpeg-args.ts';
import type { NegotiatedMedia, NegotiatedStream } from '../../media-task/sip/sdp.ts';

const audio = (codec: string, payloadType: number, clockRate: number, extra: Partial<NegotiatedStream> = {}): NegotiatedStream => ({
  kind: 'audio',
  remoteAddress: '203.0.113.5',
  remotePort: 30000,
  payloadType,
  codec,
  clockRate,
  channels: 1,
  peerDirection: 'sendrecv',
  ...extra,
});
const video = (fmtp?: string): NegotiatedStream => ({
  kind: 'video',
  remoteAddress: '203.0.113.5',
  remotePort: 30002,
  payloadType: 99,
  codec: 'H264',
  clockRate: 90000,
  channels: 1,
  peerDirection: 'sendonly',
  ...(fmtp ? { fmtp } : {}),
});
const output = { rtmpUrl: 'rtmp://live.example.com/app', rtmpStream: 'key-123' };
const SPROP = 'packetization-mode=1;sprop-parameter-sets=Z0LADdoFB+wEQAAAAwBAAAAMo8UKqA==,aM4PyA==';

/** Value following `flag` in args (the first occurrence). */
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('buildInputSdp', () => {
  it.each<[string, NegotiatedMedia, string[]]>([
    ['PCMU', { audio: audio('PCMU', 0, 8000) }, ['m=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000']],
    ['PCMA', { audio: audio('PCMA', 8, 8000) }, ['m=audio 40000 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000']],
    ['G722 keeps its 8000 RTP clock', { audio: audio('G722', 9, 8000) }, ['m=audio 40000 RTP/AVP 9', 'a=rtpmap:9 G722/8000']],
    [
      'Opus is declared 48000/2 with the peer fmtp',
      { audio: audio('OPUS', 111, 48000, { fmtp: 'minptime=10;useinbandfec=1' }) },
      ['m=audio 40000 RTP/AVP 111', 'a=rtpmap:111 opus/48000/2', 'a=fmtp:111 minptime=10;useinbandfec=1'],
    ],
    [
      'PCMU + H.264 with sprop on its own port',
      { audio: audio('PCMU', 0, 8000), video: video(SPROP) },
      ['m=audio 40000 RTP/AVP 0', 'm=video 40002 RTP/AVP 99', 'a=rtpmap:99 H264/90000', `a=fmtp:99 ${SPROP}`],
    ],
  ])('%s', (_name, media, lines) => {
    const sdp = buildInputSdp(media, { audio: 40000, video: 40002 });
    const sdpLines = sdp.split('\r\n');
    for (const line of lines) expect(sdpLines).toContain(line);
    expect(sdpLines).toContain('c=IN IP4 127.0.0.1');
    expect(sdp).not.toContain('203.0.113.5');
    expect(sdp.endsWith('\r\n')).toBe(true);
  });

  it('drops an fmtp that would inject SDP lines', () => {
    const sdp = buildInputSdp({ video: video('packetization-mode=1\r\nm=audio 1 RTP/AVP 0') }, { video: 40002 });
    expect(sdp).not.toContain('a=fmtp');
    expect(sdp.match(/^m=/gm)).toHaveLength(1);
  });

  it.each<[string, NegotiatedMedia, { audio?: number; video?: number }]>([
    ['no media at all', {}, {}],
    ['an audio stream without a local port', { audio: audio('PCMU', 0, 8000) }, {}],
    ['an unsupported audio codec', { audio: audio('GSM', 3, 8000) }, { audio: 40000 }],
    ['an unsupported video codec', { video: { ...video(), codec: 'VP8' } }, { video: 40002 }],
  ])('refuses %s', (_name, media, ports) => {
    expect(() => buildInputSdp(media, ports)).toThrow(FfmpegArgsError);
  });
});

describe('rtmpTarget', () => {
  it.each([
    ['rtmp://live.example.com/app', 'key', 'rtmp://live.example.com/app/key'],
    ['rtmps://live.example.com:443/app/', 'key', 'rtmps://live.example.com:443/app/key'],
    ['RTMP://h/app', '/key?token=a&b=c', 'RTMP://h/app/key?token=a&b=c'],
    ['rtmp://h/app', 'name with; $(shell) `chars`', 'rtmp://h/app/name with; $(shell) `chars`'],
  ])('%s + %s → %s', (rtmpUrl, rtmpStream, expected) => {
    expect(rtmpTarget({ rtmpUrl, rtmpStream })).toBe(expected);
  });

  it.each([
    ['http://h/app', 'key'],
    ['file:///etc/passwd', 'key'],
    ['-y rtmp://h/app', 'key'],
    ['rtmp://user:password@h/app', 'key'],
    ['rtmp://h/app x', 'key'],
    ['rtmp://h/app', 'key\nmore'],
    ['rtmp://h/app', ''],
    ['rtmp://', 'key'],
  ])('refuses %j + %j', (rtmpUrl, rtmpStream) => {
    expect(() => rtmpTarget({ rtmpUrl, rtmpStream })).toThrow(FfmpegArgsError);
  });
});

describe('buildFfmpegArgs', () => {
  it.each<[string, NegotiatedMedia, { audioRate?: string; videoCopy: boolean; probesize: string; analyzeduration: string }]>([
    ['PCMU → AAC 44.1 kHz, no probing', { audio: audio('PCMU', 0, 8000) }, { audioRate: '44100', videoCopy: false, probesize: '32', analyzeduration: '0' }],
    ['PCMA → AAC 44.1 kHz', { audio: audio('PCMA', 8, 8000) }, { audioRate: '44100', videoCopy: false, probesize: '32', analyzeduration: '0' }],
    ['G722 → AAC 44.1 kHz', { audio: audio('G722', 9, 8000) }, { audioRate: '44100', videoCopy: false, probesize: '32', analyzeduration: '0' }],
    ['Opus → AAC 48 kHz', { audio: audio('OPUS', 111, 48000) }, { audioRate: '48000', videoCopy: false, probesize: '32', analyzeduration: '0' }],
    [
      'PCMU + H.264 with sprop → short analysis',
      { audio: audio('PCMU', 0, 8000), video: video(SPROP) },
      { audioRate: '44100', videoCopy: true, probesize: '5000000', analyzeduration: '200000' },
    ],
    [
      'H.264 without sprop → waits for an in-band SPS',
      { video: video('packetization-mode=1') },
      { videoCopy: true, probesize: '5000000', analyzeduration: '1000000' },
    ],
  ])('%s', (_name, media, expected) => {
    const { args, sdp, target } = buildFfmpegArgs(media, { audio: 40000, video: 40002 }, output, '/tmp/x/input.sdp');
    expect(sdp).toBe(buildInputSdp(media, { audio: 40000, video: 40002 }));
    expect(target).toBe('rtmp://live.example.com/app/key-123');
    expect(args.at(-1)).toBe(target);
    expect(args.slice(-3, -1)).toEqual(['-f', 'flv']);
    expect(after(args, '-i')).toBe('/tmp/x/input.sdp');
    expect(after(args, '-f')).toBe('sdp');
    expect(after(args, '-protocol_whitelist')).toBe('file,udp,rtp');
    expect(after(args, '-progress')).toBe('pipe:1');
    expect(args).toContain('-nostats');
    expect(after(args, '-probesize')).toBe(expected.probesize);
    expect(after(args, '-analyzeduration')).toBe(expected.analyzeduration);
    if (expected.audioRate) {
      expect(after(args, '-c:a')).toBe('aac');
      expect(after(args, '-ar')).toBe(expected.audioRate);
      expect(after(args, '-b:a')).toBe('128k');
    } else {
      expect(args).not.toContain('-c:a');
    }
    expect(args.includes('-c:v') ? after(args, '-c:v') : undefined).toBe(expected.videoCopy ? 'copy' : undefined);
    // Every flag the input needs comes before -i, every output option after it.
    expect(args.indexOf('-fflags')).toBeLessThan(args.indexOf('-i'));
    expect(args.indexOf('-map')).toBeGreaterThan(args.indexOf('-i'));
  });

  it('keeps the stream name one argument, never split or quoted', () => {
    const { args } = buildFfmpegArgs({ audio: audio('PCMU', 0, 8000) }, { audio: 40000 }, { rtmpUrl: 'rtmp://h/app', rtmpStream: 'a b;c' }, '/s.sdp');
    expect(args.at(-1)).toBe('rtmp://h/app/a b;c');
    expect(args.filter((arg) => arg.includes('a b'))).toHaveLength(1);
  });

  it('refuses an output that is not rtmp:// or rtmps://', () => {
    expect(() => buildFfmpegArgs({ audio: audio('PCMU', 0, 8000) }, { audio: 40000 }, { rtmpUrl: 'srt://h:9000', rtmpStream: 'k' }, '/s.sdp')).toThrow(
      FfmpegArgsError,
    );
  });
});
