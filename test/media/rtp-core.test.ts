import { describe, expect, it } from 'vitest';
import { DtmfError, dtmfEventCode, dtmfPayload, parseDtmfPayload, planDtmf } from '../../media-task/rtp/dtmf.ts';
import { buildRtp, parseRtp } from '../support/rtp-packet.ts';
import { silenceFrame } from '../../media-task/rtp/silence.ts';

describe('RTP packets', () => {
  it('round-trips the fixed header', () => {
    const packet = buildRtp(
      { marker: true, payloadType: 101, sequence: 65535, timestamp: 0xffffffff, ssrc: 0x12345678 },
      Buffer.from([1, 2, 3]),
    );
    expect(parseRtp(packet)).toEqual({
      marker: true,
      payloadType: 101,
      sequence: 65535,
      timestamp: 0xffffffff,
      ssrc: 0x12345678,
      payloadOffset: 12,
      payloadEnd: 15,
    });
  });

  it.each([
    ['too short', Buffer.alloc(8)],
    ['version 1', Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['RTCP sender report (PT 200)', Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0])],
  ])('rejects %s', (_name, datagram) => {
    expect(parseRtp(datagram)).toBeUndefined();
  });
});

describe('RFC 4733 DTMF plan', () => {
  it.each([
    ['0', 0],
    ['9', 9],
    ['*', 10],
    ['#', 11],
    ['A', 12],
    ['d', 15],
  ])('%s is event %i', (char, code) => expect(dtmfEventCode(char)).toBe(code));

  it('plans 8 updates and 3 end packets per digit, 160 ms tone, 100 ms gap, 500 ms per pause', () => {
    const { packets, totalMs } = planDtmf('1,2', 8000);
    expect(packets).toHaveLength(22);
    const one = packets.filter((p) => p.event === 1);
    expect(one.map((p) => p.atMs)).toEqual([0, 20, 40, 60, 80, 100, 120, 140, 160, 160, 160]);
    expect(one.map((p) => p.duration)).toEqual([160, 320, 480, 640, 800, 960, 1120, 1280, 1280, 1280, 1280]);
    expect(one.map((p) => p.marker)).toEqual([true, ...Array(10).fill(false)]);
    expect(one.map((p) => p.end)).toEqual([...Array(8).fill(false), true, true, true]);
    expect(packets.find((p) => p.event === 2)!.atMs).toBe(260 + 500);
    expect(totalMs).toBe(260 + 500 + 260);
  });

  it('scales durations to a 48 kHz telephone-event clock', () => {
    expect(planDtmf('5', 48000).packets.at(-1)!.duration).toBe(7680);
  });

  it('refuses a non-DTMF character before sending anything', () => {
    expect(() => planDtmf('12x', 8000)).toThrow(DtmfError);
  });

  it('encodes the payload with E bit, volume and duration', () => {
    const payload = dtmfPayload({ event: 11, end: true, duration: 1280 });
    expect([...payload]).toEqual([11, 0x8a, 0x05, 0x00]);
    expect(parseDtmfPayload(payload)).toEqual({ event: 11, end: true, volume: 10, duration: 1280 });
  });
});

describe('silence frames', () => {
  it.each([
    ['PCMU', 8000, 160, 0xff, 160],
    ['PCMA', 8000, 160, 0xd5, 160],
    ['G722', 8000, 160, 0xff, 160],
  ])('%s: %i Hz → %i bytes of %i, +%i per frame', (codec, rate, length, byte, step) => {
    const frame = silenceFrame(codec, rate)!;
    expect(frame.payload.length).toBe(length);
    expect(frame.payload.every((b) => b === byte)).toBe(true);
    expect(frame.timestampStep).toBe(step);
  });

  it('Opus: the 3-byte silence frame, 960 ticks', () => {
    expect(silenceFrame('OPUS', 48000)).toEqual({ payload: Buffer.from([0xf8, 0xff, 0xfe]), timestampStep: 960 });
  });

  it('has none for video', () => expect(silenceFrame('H264', 90000)).toBeUndefined());
});
