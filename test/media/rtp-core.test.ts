import { describe, expect, it } from 'vitest';
import { DtmfError, dtmfEventCode, dtmfPayload, parseDtmfPayload, planDtmf } from '../../media-task/rtp/dtmf.ts';
import { joinable, RtpJoiner, type ForwardedPacket } from '../../media-task/rtp/rtp-joiner.ts';
import { buildRtp, parseRtp } from '../../media-task/rtp/rtp-packet.ts';
import { RtpRewriter } from '../../media-task/rtp/rtp-rewriter.ts';
import { RtpStats } from '../../media-task/rtp/rtp-stats.ts';
import { silenceFrame } from '../../media-task/rtp/silence.ts';

describe('RTP packets', () => {
  it('round-trips the fixed header', () => {
    const packet = buildRtp({ marker: true, payloadType: 101, sequence: 65535, timestamp: 0xffffffff, ssrc: 0x12345678 }, Buffer.from([1, 2, 3]));
    expect(parseRtp(packet)).toEqual({ marker: true, payloadType: 101, sequence: 65535, timestamp: 0xffffffff, ssrc: 0x12345678, payloadOffset: 12, payloadEnd: 15 });
  });

  it.each([
    ['too short', Buffer.alloc(8)],
    ['version 1', Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['RTCP sender report (PT 200)', Buffer.from([0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0])],
  ])('rejects %s', (_name, datagram) => {
    expect(parseRtp(datagram)).toBeUndefined();
  });
});

describe('RtpStats (RFC 3550 A.3, A.8)', () => {
  it('counts loss from sequence gaps across a wrap, jitter 0 for perfectly paced packets', () => {
    const stats = new RtpStats(8000);
    const sequences = [65533, 65534, 65535, 0, 2, 3]; // 1 lost across the wrap
    sequences.forEach((seq, i) => stats.record(1, seq, i * 160, i * 20, 1000 + i * 20));
    expect(stats.snapshot()).toEqual({ packets: 6, lost: 1, jitterMs: 0, lastPacketAt: 1100 });
  });

  it('estimates jitter in ms from alternating 10 ms early/late arrivals', () => {
    const stats = new RtpStats(8000);
    for (let i = 0; i < 500; i++) stats.record(1, i, i * 160, i * 20 + (i % 2 ? 10 : 0), 0);
    // |D| is 10 ms every packet, so J converges to 10 ms.
    expect(stats.snapshot().jitterMs).toBeCloseTo(10, 1);
  });

  it('adds a new SSRC as a new source instead of counting the jump as loss', () => {
    const stats = new RtpStats(8000);
    for (let i = 0; i < 10; i++) stats.record(1, 100 + i, i * 160, i * 20, 0);
    for (let i = 0; i < 10; i++) stats.record(2, 40000 + i, 999999 + i * 160, 200 + i * 20, 0);
    expect(stats.snapshot()).toMatchObject({ packets: 20, lost: 0 });
  });
});

describe('RtpRewriter', () => {
  it('numbers gap silence after the peer and re-anchors the peer after it: one sequence, one clock', () => {
    const rewriter = new RtpRewriter(8000);
    const peer = [0, 1].map((i) => rewriter.map(0xaaaa, 100 + i, 5000 + i * 160, i * 20));
    // The peer stops at 20 ms; silence stands in for 140..200 ms (paced from where it stopped), then it resumes.
    const fill = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => rewriter.fill(20 + k * 20));
    const resumed = [0, 1].map((i) => rewriter.map(0xaaaa, 102 + i, 5000 + (2 + i) * 160 + 99_999, 205 + i * 20));
    const all = [...peer, ...fill, ...resumed];
    for (let i = 1; i < all.length; i++) {
      expect((all[i]!.sequence - all[i - 1]!.sequence) & 0xffff).toBe(1);
      expect(all[i]!.ssrc).toBe(all[0]!.ssrc);
    }
    const ticks = all.map((packet) => (packet.timestamp - all[0]!.timestamp) >>> 0);
    expect(ticks.slice(0, 11)).toEqual([0, 160, 320, 480, 640, 800, 960, 1120, 1280, 1440, 1600]);
    // The peer resumes 5 ms after the last silence frame: 40 ticks on, whatever its own timestamp says.
    expect(ticks.slice(11)).toEqual([1640, 1800]);
    expect(resumed[0]!.reanchored).toBe(true);
  });

  it('keeps one continuous sequence/timestamp/SSRC across an SSRC change', () => {
    const rewriter = new RtpRewriter(8000);
    const first = [0, 1, 2].map((i) => rewriter.map(0xaaaa, 5000 + i, 70000 + i * 160, i * 20));
    const second = [0, 1].map((i) => rewriter.map(0xbbbb, 123 + i, 9 + i * 160, 100 + i * 20));
    const all = [...first, ...second];
    expect(new Set(all.map((p) => p.ssrc)).size).toBe(1);
    for (let i = 1; i < all.length; i++) expect((all[i]!.sequence - all[i - 1]!.sequence) & 0xffff).toBe(1);
    // 60 ms of wall time between the last old and first new packet → 480 ticks.
    expect((second[0]!.timestamp - first[2]!.timestamp) >>> 0).toBe(480);
    expect(second.map((p) => p.reanchored)).toEqual([true, false]);
  });

  it('passes a small gap through as loss and re-anchors a restarted numbering on the same SSRC', () => {
    const rewriter = new RtpRewriter(8000);
    const a = rewriter.map(1, 10, 0, 0);
    const b = rewriter.map(1, 12, 320, 40);
    expect((b.sequence - a.sequence) & 0xffff).toBe(2);
    const c = rewriter.map(1, 30000, 5, 60);
    expect(c.reanchored).toBe(true);
    expect((c.sequence - b.sequence) & 0xffff).toBe(1);
  });
});

describe('RtpJoiner', () => {
  /** 160 ticks a packet, continuous across the sequence wrap. */
  const timestampOf = (sequence: number) => ((sequence + 0x10000 - 60000) & 0xffff) * 160;
  /** A 20 ms PCMU packet in the rewriter's numbering; the byte says which one it was. */
  const pcmu = (sequence: number, extra: Partial<ForwardedPacket> = {}): ForwardedPacket => ({
    sequence,
    timestamp: timestampOf(sequence),
    ssrc: 7,
    payloadType: 0,
    marker: false,
    payload: Buffer.alloc(160, sequence & 0xff),
    ...extra,
  });
  /** Each datagram as the packets it holds (by their byte), with its sequence and timestamp. */
  const read = (datagrams: Buffer[]) =>
    datagrams.map((datagram) => {
      const packet = parseRtp(datagram)!;
      const payload = datagram.subarray(packet.payloadOffset, packet.payloadEnd);
      const held = Array.from({ length: payload.length / 160 }, (_, k) => payload[k * 160]!);
      return { held, sequence: packet.sequence, timestamp: packet.timestamp, marker: packet.marker };
    });

  it.each([
    ['three in a row become one', [[1, 2, 3]], [[1, 2, 3]]],
    ['a batch out of order is put in order first', [[3, 1, 2]], [[1, 2, 3]]],
    ['a lost packet splits the batch', [[1, 3, 4]], [[1], [3, 4]]],
    ['a packet later than one sent is dropped', [[1, 2, 3], [2, 5, 4, 6]], [[1, 2, 3], [4, 5, 6]]],
    ['a duplicate is dropped', [[1, 2, 2, 3]], [[1, 2, 3]]],
    ['across the sequence wrap', [[65534, 65535, 0]], [[65534, 65535, 0]]],
  ])('%s', (_name, batches, expected) => {
    const joiner = new RtpJoiner();
    const out = batches.flatMap((batch) => read(joiner.pack(batch.map((sequence) => pcmu(sequence)), true)));
    expect(out.map((datagram) => datagram.held)).toEqual(expected.map((held) => held.map((sequence) => sequence & 0xff)));
    // One number per datagram, none skipped: ffmpeg waits for a missing one.
    expect(out.slice(1).map((datagram, i) => (datagram.sequence - out[i]!.sequence) & 0xffff)).toEqual(Array(out.length - 1).fill(1));
    // Each datagram is stamped with its first packet's timestamp.
    expect(out.map((datagram) => datagram.timestamp)).toEqual(expected.map((held) => timestampOf(held[0]!)));
  });

  it('starts a new packet at a marker, a timestamp jump, another SSRC or payload type, or 1200 bytes', () => {
    const joiner = new RtpJoiner();
    const batch = [
      pcmu(1),
      pcmu(2, { marker: true }),
      pcmu(3, { timestamp: 9999 }),
      pcmu(4, { timestamp: 9999 + 160, ssrc: 8 }),
      pcmu(5, { timestamp: 9999 + 320, ssrc: 8, payloadType: 8 }),
      ...[6, 7, 8, 9, 10, 11, 12, 13].map((sequence) => pcmu(sequence, { timestamp: 9999 + (sequence - 3) * 160, ssrc: 8, payloadType: 8 })),
    ];
    const out = read(joiner.pack(batch, true));
    expect(out.map((datagram) => datagram.held)).toEqual([[1], [2], [3], [4], [5, 6, 7, 8, 9, 10, 11], [12, 13]]);
    expect(out.map((datagram) => datagram.marker)).toEqual([false, true, false, false, false, false]);
  });

  it('only renumbers a codec whose packets do not concatenate (Opus)', () => {
    const joiner = new RtpJoiner();
    expect(read(joiner.pack([pcmu(1), pcmu(2), pcmu(3)], false)).map((datagram) => datagram.held)).toEqual([[1], [2], [3]]);
    expect(['PCMU', 'pcma', 'G722', 'opus'].map(joinable)).toEqual([true, true, true, false]);
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
