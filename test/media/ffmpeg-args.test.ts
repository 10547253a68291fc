import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  buildEncoderArgs,
  buildInputSdp,
  FfmpegArgsError,
  rtmpTarget,
  type EncoderSink,
  type VideoFill,
} from '../../media-task/pipeline/ffmpeg-args.ts';
import { buildRecorderArgs, buildRepublisherArgs, buildSlateArgs } from '../../media-task/pipeline/relay-args.ts';
import { likelyAnswer, type NegotiatedMedia, type NegotiatedStream } from '../../media-task/sip/sdp.ts';

const audio = (
  codec: string,
  payloadType: number,
  clockRate: number,
  extra: Partial<NegotiatedStream> = {},
): NegotiatedStream => ({
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
const SPROP = 'packetization-mode=1;sprop-parameter-sets=Z0LADdoFB+wEQAAAAwBAAAAMo8UKqA==,aM4PyA==';

/** Value following the `nth` (0-based) occurrence of `flag` in args. */
const after = (args: string[], flag: string, nth = 0) => {
  let index = -1;
  for (let seen = 0; seen <= nth; seen++) index = args.indexOf(flag, index + 1);
  return index < 0 ? undefined : args[index + 1];
};

describe('buildInputSdp', () => {
  it.each<[string, NegotiatedMedia, string[]]>([
    ['PCMU', { audio: audio('PCMU', 0, 8000) }, ['m=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000']],
    ['PCMA', { audio: audio('PCMA', 8, 8000) }, ['m=audio 40000 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000']],
    [
      'G722 keeps its 8000 RTP clock',
      { audio: audio('G722', 9, 8000) },
      ['m=audio 40000 RTP/AVP 9', 'a=rtpmap:9 G722/8000'],
    ],
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

describe('buildEncoderArgs', () => {
  const rtmp: EncoderSink = { kind: 'rtmp', target: 'rtmp://h/live/key' };
  const plan = (media: NegotiatedMedia, fill: VideoFill = { kind: 'none' }, sink: EncoderSink = rtmp) => ({
    media,
    fill,
    sink,
  });

  it.each<
    [string, NegotiatedMedia, { audioRate?: string; videoCopy: boolean; probesize: string; analyzeduration: string }]
  >([
    [
      'PCMU → AAC 44.1 kHz, no probing',
      { audio: audio('PCMU', 0, 8000) },
      { audioRate: '44100', videoCopy: false, probesize: '32', analyzeduration: '0' },
    ],
    [
      'PCMA → AAC 44.1 kHz',
      { audio: audio('PCMA', 8, 8000) },
      { audioRate: '44100', videoCopy: false, probesize: '32', analyzeduration: '0' },
    ],
    [
      'G722 → AAC 44.1 kHz',
      { audio: audio('G722', 9, 8000) },
      { audioRate: '44100', videoCopy: false, probesize: '32', analyzeduration: '0' },
    ],
    [
      'Opus → AAC 48 kHz',
      { audio: audio('OPUS', 111, 48000) },
      { audioRate: '48000', videoCopy: false, probesize: '32', analyzeduration: '0' },
    ],
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
    const args = buildEncoderArgs(plan(media));
    // One destination: the encoder publishes itself, reporting its bytes for the stall watch.
    expect(args.slice(-3)).toEqual(['-f', 'flv', 'rtmp://h/live/key']);
    // The RTMP handshake without Nagle's delays (an output option, so after the inputs).
    expect(after(args, '-tcp_nodelay')).toBe('1');
    expect(args.indexOf('-tcp_nodelay')).toBeGreaterThan(args.lastIndexOf('-i'));
    expect(after(args, '-progress')).toBe('pipe:1');
    expect(args.indexOf('-progress')).toBeLessThan(args.indexOf('-i'));
    // The SDP comes on stdin: no port in the arguments, so a spare encoder can be started before the answer.
    expect(after(args, '-i')).toBe('pipe:0');
    expect(after(args, '-f')).toBe('sdp');
    expect(after(args, '-protocol_whitelist')).toBe('pipe,udp,rtp');
    expect(args).toContain('-nostats');
    expect(after(args, '-probesize')).toBe(expected.probesize);
    expect(after(args, '-analyzeduration')).toBe(expected.analyzeduration);
    if (expected.audioRate) {
      expect(after(args, '-c:a')).toBe('aac');
      expect(after(args, '-ar')).toBe(expected.audioRate);
      expect(after(args, '-ac')).toBe('2');
      expect(after(args, '-b:a')).toBe('128k');
      // The mono call in two equal channels: the stereo searches only cost CPU.
      for (const tool of ['-aac_is', '-aac_ms', '-aac_pns']) expect(after(args, tool)).toBe('0');
    } else {
      expect(args).not.toContain('-c:a');
    }
    expect(args.includes('-c:v') ? after(args, '-c:v') : undefined).toBe(expected.videoCopy ? 'copy' : undefined);
    // Every flag the input needs comes before -i, every output option after it.
    expect(args.indexOf('-fflags')).toBeLessThan(args.indexOf('-i'));
    expect(args.indexOf('-map')).toBeGreaterThan(args.indexOf('-i'));
  });

  it.each<[string, NegotiatedMedia, VideoFill, { inputs: number; video?: string; filter: boolean }]>([
    [
      'audio-only + slate: the clip looped at its own pace, copied',
      { audio: audio('PCMU', 0, 8000) },
      { kind: 'slate', clipPath: '/c/slate.mp4' },
      { inputs: 2, video: 'copy', filter: false },
    ],
    [
      'audio-only + waveform: one H.264 encode, 2 s GOP',
      { audio: audio('PCMU', 0, 8000) },
      { kind: 'waveform' },
      { inputs: 1, video: 'libx264', filter: true },
    ],
    [
      'audio-only + none: audio-only FLV',
      { audio: audio('PCMU', 0, 8000) },
      { kind: 'none' },
      { inputs: 1, filter: false },
    ],
    [
      'the peer sends video: the slate is not used',
      { audio: audio('PCMU', 0, 8000), video: video(SPROP) },
      { kind: 'slate', clipPath: '/c/slate.mp4' },
      { inputs: 1, video: 'copy', filter: false },
    ],
  ])('%s', (_name, media, fill, expected) => {
    const args = buildEncoderArgs(plan(media, fill));
    expect(args.filter((arg) => arg === '-i')).toHaveLength(expected.inputs);
    expect(args.includes('-c:v') ? after(args, '-c:v') : undefined).toBe(expected.video);
    expect(args.includes('-filter_complex')).toBe(expected.filter);
    if (fill.kind === 'slate' && expected.inputs === 2) {
      expect(args.slice(args.indexOf('-stream_loop'), args.lastIndexOf('-i') + 2)).toEqual([
        '-stream_loop',
        '-1',
        '-re',
        '-f',
        'mp4',
        '-i',
        '/c/slate.mp4',
      ]);
      expect(after(args, '-map', 1)).toBe('1:v:0');
    }
    if (expected.video === 'libx264') {
      expect(after(args, '-g')).toBe('30'); // 15 fps × 2 s
      expect(after(args, '-sc_threshold')).toBe('0');
      expect(after(args, '-map')).toBe('[aout]');
    }
  });

  it('fans out to every relay port through tee, a failing slave ignored, and leaves the byte counts to the republishers', () => {
    const args = buildEncoderArgs(
      plan({ audio: audio('PCMU', 0, 8000) }, { kind: 'none' }, { kind: 'relay', ports: [41000, 41002, 41004] }),
    );
    expect(args.slice(-3, -1)).toEqual(['-f', 'tee']);
    expect(args.at(-1)).toBe(
      ['41000', '41002', '41004']
        .map((port) => `[f=mpegts:onfail=ignore]udp://127.0.0.1:${port}?pkt_size=1316`)
        .join('|'),
    );
    expect(args).not.toContain('-progress');
  });

  it('verifies the certificate of an rtmps:// destination it publishes to itself', () => {
    const args = buildEncoderArgs(
      plan(
        { audio: audio('PCMU', 0, 8000) },
        { kind: 'none' },
        { kind: 'rtmp', target: 'rtmps://h/live/key', caFile: '/ca.pem' },
      ),
    );
    expect(after(args, '-tls_verify')).toBe('1');
    expect(after(args, '-ca_file')).toBe('/ca.pem');
    expect(args.at(-1)).toBe('rtmps://h/live/key');
  });

  it.each<[string, EncoderSink]>([
    ['a plan without destinations', { kind: 'relay', ports: [] }],
    ['a target that is not RTMP', { kind: 'rtmp', target: 'file:///etc/passwd' }],
  ])('refuses %s', (_name, sink) => {
    expect(() => buildEncoderArgs(plan({ audio: audio('PCMU', 0, 8000) }, { kind: 'none' }, sink))).toThrow(
      FfmpegArgsError,
    );
  });

  // The spare encoder is started with the likely answer's arguments and used only when the real ones are equal.
  it.each<[string, NegotiatedMedia, VideoFill, boolean]>([
    [
      'PCMU on other ports and payload type',
      { audio: { ...audio('PCMU', 0, 8000), payloadType: 98, remotePort: 5004 } },
      { kind: 'none' },
      true,
    ],
    ['PCMA', { audio: audio('PCMA', 8, 8000) }, { kind: 'none' }, true],
    ['G722', { audio: audio('G722', 9, 8000) }, { kind: 'none' }, true],
    [
      'PCMA with the slate the spare was started with',
      { audio: audio('PCMA', 8, 8000) },
      { kind: 'slate', clipPath: '/c/slate.mp4' },
      true,
    ],
    ['Opus (48 kHz AAC)', { audio: audio('OPUS', 111, 48000) }, { kind: 'none' }, false],
    ["PCMU and the peer's video", { audio: audio('PCMU', 0, 8000), video: video(SPROP) }, { kind: 'none' }, false],
  ])("the likely answer's arguments fit an answer of %s: %s", (_name, media, fill, fits) => {
    expect(isDeepStrictEqual(buildEncoderArgs(plan(media, fill)), buildEncoderArgs(plan(likelyAnswer(), fill)))).toBe(
      fits,
    );
  });
});

describe('buildRepublisherArgs', () => {
  const base = {
    relayPort: 41000,
    target: 'rtmps://live.example.com:443/app/key 1',
    inputTimeoutMs: 5000,
    joinMidStream: false,
  };

  it.each<[string, 'none' | 'ours' | 'peer', boolean, string, string]>([
    ['audio only: the first ADTS header is enough', 'none', false, '32', '0'],
    ['our video at the start: opens on a keyframe', 'ours', false, '5000000', '200000'],
    ['our video, restarted mid-stream: up to one 2 s GOP', 'ours', true, '5000000', '2200000'],
    ['the peer video, at the start', 'peer', false, '5000000', '1100000'],
    ['the peer video, restarted: its GOP is unknown', 'peer', true, '5000000', '5000000'],
  ])('%s', (_name, videoKind, joinMidStream, probesize, analyzeduration) => {
    const args = buildRepublisherArgs({ ...base, video: videoKind, joinMidStream });
    expect(after(args, '-probesize')).toBe(probesize);
    expect(after(args, '-analyzeduration')).toBe(analyzeduration);
    expect(after(args, '-protocol_whitelist')).toBe('udp');
    expect(after(args, '-i')).toBe('udp://127.0.0.1:41000?fifo_size=50000&overrun_nonfatal=1&timeout=5000000');
    expect(after(args, '-c')).toBe('copy');
    expect(args.slice(-3)).toEqual(['-f', 'flv', 'rtmps://live.example.com:443/app/key 1']);
    // Probed packets are kept, not dropped: the recording misses nothing of the start.
    expect(args).not.toContain('nobuffer');
  });

  it.each<[string, string, string | undefined, string[]]>([
    [
      'rtmps: the certificate is checked against the system CAs',
      'rtmps://live.example.com:443/app/key',
      undefined,
      ['-tls_verify', '1'],
    ],
    [
      'rtmps: against the configured CA file',
      'rtmps://live.example.com:443/app/key',
      '/etc/gw/ca.pem',
      ['-tls_verify', '1', '-ca_file', '/etc/gw/ca.pem'],
    ],
    ['rtmp: no TLS, nothing to check', 'rtmp://live.example.com/app/key', '/etc/gw/ca.pem', []],
  ])('%s', (_name, target, caFile, tls) => {
    const args = buildRepublisherArgs({ ...base, video: 'none', target, caFile });
    // Output options of the FLV muxer's connection: after the input, before -f flv.
    const flv = args.lastIndexOf('-f');
    const at = args.indexOf('-tls_verify');
    expect(at === -1 ? [] : args.slice(at, flv)).toEqual(tls);
    if (at !== -1) expect(at).toBeGreaterThan(args.indexOf('-i'));
    if (!tls.length) expect(args).not.toContain('-ca_file');
  });

  it('refuses a target that is not RTMP(S)', () => {
    expect(() => buildRepublisherArgs({ ...base, video: 'none', target: 'file:///etc/passwd' })).toThrow(
      FfmpegArgsError,
    );
  });
});

describe('buildRecorderArgs', () => {
  const path = '/data/recordings/3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41.mp4';

  it.each<[string, 'none' | 'ours' | 'peer', string, string]>([
    ['audio only', 'none', '32', '0'],
    ['our video', 'ours', '5000000', '200000'],
    ["the peer's video", 'peer', '5000000', '1100000'],
  ])('copies the relayed MPEG-TS into a fragmented MP4: %s', (_name, videoKind, probesize, analyzeduration) => {
    const args = buildRecorderArgs({ relayPort: 41002, path, video: videoKind });
    expect(after(args, '-probesize')).toBe(probesize);
    expect(after(args, '-analyzeduration')).toBe(analyzeduration);
    // No input timeout: a hold sends nothing for as long as it lasts, and the recording goes on after it.
    expect(after(args, '-i')).toBe('udp://127.0.0.1:41002?fifo_size=50000&overrun_nonfatal=1');
    expect(after(args, '-c')).toBe('copy');
    expect(after(args, '-bsf:a')).toBe('aac_adtstoasc');
    expect(after(args, '-f', 1)).toBe('mp4');
    // A crash leaves every fragment written so far: an empty moov up front, each fragment flushed when cut.
    expect(after(args, '-movflags')).toBe('+frag_keyframe+empty_moov+default_base_moof');
    expect(after(args, '-frag_duration')).toBe('1000000');
    expect(after(args, '-flush_packets')).toBe('1');
    expect(args.at(-1)).toBe(`file:${path}`);
    expect(args).not.toContain('aac');
  });

  it.each([['recordings/x.mp4'], ['/data/recordings/x.flv'], ['-i.mp4']])('refuses the path %j', (bad) => {
    expect(() => buildRecorderArgs({ relayPort: 41002, path: bad, video: 'none' })).toThrow(FfmpegArgsError);
  });
});

describe('buildSlateArgs', () => {
  const plan = { outPath: '/tmp/cache/work-1/slate.mp4', width: 1280, height: 720, fps: 30, color: '1d2b3a' };

  it('encodes one 2 s GOP of main-profile H.264 as MP4, the title from a file', () => {
    const args = buildSlateArgs({ ...plan, titlePath: '/tmp/cache/work-1/title.txt' });
    expect(after(args, '-frames:v')).toBe('60');
    expect(after(args, '-g')).toBe('60');
    expect(after(args, '-profile:v')).toBe('main');
    expect(after(args, '-pix_fmt')).toBe('yuv420p');
    expect(after(args, '-f', 1)).toBe('mp4');
    expect(after(args, '-vf')).toContain('textfile=/tmp/cache/work-1/title.txt:expansion=none');
    expect(args.at(-1)).toBe(plan.outPath);
  });

  it('draws no text without a title', () => {
    expect(buildSlateArgs(plan)).not.toContain('-vf');
  });

  it.each([
    ['a colour that is not hex', { ...plan, color: 'red:x=1' }],
    ['a title path that would need filter escaping', { ...plan, titlePath: "/tmp/a':b/title.txt" }],
  ])('refuses %s', (_name, bad) => {
    expect(() => buildSlateArgs(bad)).toThrow(FfmpegArgsError);
  });
});
