/**
 * The CDN-output parts that need no process: the call spec's new optional fields (video, title, destinations)
 * as the media task parses them, the video mode a call gets by default, and the reconnect backoff.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/call-errors.ts';
import { parseCallSpec } from '../../shared/call-spec-schema.ts';
import { videoMode } from '../../media-task/call-runner.ts';
import { backoffMs } from '../../media-task/pipeline/destination.ts';

const seed = {
  callId: 'cdn1',
  callee: '10050',
  rtmpUrl: 'rtmp://a.rtmp.youtube.com/live2',
  rtmpStream: 'yt-key',
  connection: { sipLogin: '10051', sipDomain: 'example.com' },
};

describe('call spec: CDN fields', () => {
  it('leaves the spec as it was when none is given (stored specs and the control plane see no change)', () => {
    const spec = parseCallSpec(seed);
    expect(spec).not.toHaveProperty('video');
    expect(spec).not.toHaveProperty('title');
    expect(spec).not.toHaveProperty('destinations');
  });

  it('keeps video, title and up to 4 more destinations (5 with rtmpUrl/rtmpStream)', () => {
    const destinations = [
      { url: 'rtmps://live-api-s.facebook.com:443/rtmp', stream: 'fb-key' },
      { url: 'rtmp://live.twitch.tv/app', stream: 'tw-key' },
      { url: 'rtmp://wowza.example.com/live', stream: 'w' },
      { url: 'rtmp://10.0.0.5/live', stream: 'n' },
    ];
    expect(parseCallSpec({ ...seed, video: 'waveform', title: 'Town hall — Q&A', destinations })).toMatchObject({
      video: 'waveform',
      title: 'Town hall — Q&A',
      destinations,
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown video mode', { video: 'camera' }, 'video'],
    ['a title with a newline', { title: 'a\nb' }, 'title'],
    ['a title over 100 characters', { title: 'x'.repeat(101) }, 'title'],
    [
      'a sixth destination',
      { destinations: Array.from({ length: 5 }, (_, i) => ({ url: 'rtmp://h/app', stream: `k${i}` })) },
      'destinations',
    ],
    [
      'a destination on the metadata address',
      { destinations: [{ url: 'rtmp://169.254.169.254/live', stream: 'k' }] },
      'destinations.0.url',
    ],
    ['a destination that is not RTMP', { destinations: [{ url: 'srt://h:9000', stream: 'k' }] }, 'destinations.0.url'],
    [
      'a stream name that reads as an ffmpeg option',
      { destinations: [{ url: 'rtmp://h/app', stream: '-y' }] },
      'destinations.0.stream',
    ],
    [
      'an unknown destination field',
      { destinations: [{ url: 'rtmp://h/app', stream: 'k', key: 'x' }] },
      'destinations.0.key',
    ],
    [
      'the first destination again',
      { destinations: [{ url: 'rtmp://a.rtmp.youtube.com/live2/', stream: 'yt-key' }] },
      'destinations.0',
    ],
  ])('refuses %s, naming the field', (_name, extra, field) => {
    let error: unknown;
    try {
      parseCallSpec({ ...seed, ...extra });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain(field);
  });
});

describe('videoMode', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['defaults (hasVideo true): a slate, as CDNs refuse audio-only', {}, 'slate'],
    ['hasVideo false asked for an audio-only broadcast', { hasVideo: false }, 'none'],
    ['an explicit mode wins', { hasVideo: false, video: 'waveform' }, 'waveform'],
    ['none, explicitly', { video: 'none' }, 'none'],
  ])('%s', (_name, extra, expected) => {
    expect(videoMode(parseCallSpec({ ...seed, ...extra }))).toBe(expected);
  });
});

describe('backoffMs', () => {
  it.each([
    [1, 500],
    [2, 1_000],
    [3, 2_000],
    [5, 8_000],
    [6, 10_000],
    [50, 10_000],
  ])('restart %i waits %i ms', (failures, ms) => {
    expect(backoffMs(failures)).toBe(ms);
  });
});
