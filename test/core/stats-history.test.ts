import { describe, expect, it } from 'vitest';
import { newCallRecord } from '../../functions/core/call-record.ts';
import { transition } from '../../functions/core/call-state.ts';
import { appendStatsSample, STATS_HISTORY_LIMIT } from '../../functions/core/stats-history.ts';
import type { CallRecord, StatsSample } from '../../functions/core/ports.ts';
import type { CallSpec, CallStats } from '../../shared/call-types.ts';

const t = (seconds: number) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString();
const counters = (at: number, bytesOut: number, rtpPackets = 0, rtpLost = 0, more: Partial<CallStats> = {}) => ({
  rtpPackets,
  rtpLost,
  jitterMs: 1,
  bytesOut,
  ...more,
  at: t(at),
});
type Before = Pick<CallRecord, 'stats' | 'statsHistory' | 'stateTimes'>;
const streamingAt0: Before = { stateTimes: { dialing: t(-5), streaming: t(0) } };
const after10s: Before = { ...streamingAt0, stats: counters(10, 125_000, 500, 0), statsHistory: [] };

describe('appendStatsSample', () => {
  it.each<[string, Before, ReturnType<typeof counters>, StatsSample[] | undefined]>([
    [
      'no sample before streaming: nothing to count from',
      { stateTimes: { dialing: t(0) } },
      counters(10, 0),
      undefined,
    ],
    [
      'the first sample counts from the streaming time',
      streamingAt0,
      counters(10, 125_000, 500, 0),
      [{ at: t(10), bitrateKbps: 100, lossPercent: 0 }],
    ],
    [
      'the next one from the previous stats: 250 kB in 10 s, 5 lost of 500 expected',
      after10s,
      counters(20, 375_000, 995, 5),
      [{ at: t(20), bitrateKbps: 200, lossPercent: 1 }],
    ],
    [
      'the audio level is carried as reported',
      after10s,
      counters(20, 125_000, 500, 0, { audioLevelDb: -23.4 }),
      [{ at: t(20), bitrateKbps: 0, lossPercent: 0, audioLevelDb: -23.4 }],
    ],
    [
      'a counter that goes back reads as nothing sent, never a negative rate',
      after10s,
      counters(20, 1_000, 100, 0),
      [{ at: t(20), bitrateKbps: 0, lossPercent: 0 }],
    ],
    ['stats at the same time as the previous add nothing', after10s, counters(10, 200_000), []],
    ['stats older than the previous add nothing', after10s, counters(5, 200_000), []],
  ])('%s', (_scenario, before, stats, expected) => {
    expect(appendStatsSample(before, stats)).toEqual(expected);
  });

  it(`keeps the last ${STATS_HISTORY_LIMIT} samples, oldest first`, () => {
    let record: Before = streamingAt0;
    for (let i = 1; i <= STATS_HISTORY_LIMIT + 5; i++) {
      const stats = counters(i * 10, i * 12_500);
      record = { ...record, stats, statsHistory: appendStatsSample(record, stats) };
    }
    expect(record.statsHistory).toHaveLength(STATS_HISTORY_LIMIT);
    expect(record.statsHistory![0]!.at).toBe(t(60));
    expect(record.statsHistory!.at(-1)).toEqual({
      at: t((STATS_HISTORY_LIMIT + 5) * 10),
      bitrateKbps: 10,
      lossPercent: 0,
    });
  });
});

describe('stats events through transition', () => {
  const spec = { callId: 'c1', rtmpUrl: 'rtmp://127.0.0.1/live', rtmpStream: 's', connection: { sipPassword: 'p' } };
  const fresh = () => newCallRecord(spec as CallSpec, t(-5)).record;
  const stats = (seq: number, seconds: number, bytesOut: number) =>
    ({ type: 'stats', callId: 'c1', seq, at: t(seconds), rtpPackets: 0, rtpLost: 0, jitterMs: 0, bytesOut }) as const;
  const streaming = { type: 'streaming', callId: 'c1', seq: 2, at: t(0) } as const;

  it('adds one sample per applied stats event, none for a duplicate or a late one', () => {
    const events = [streaming, stats(3, 10, 12_500), stats(3, 10, 12_500), stats(5, 30, 50_000), stats(4, 20, 25_000)];
    const record = events.reduce((current, event) => transition(current, event).record, fresh());
    expect(record.statsHistory).toEqual([
      { at: t(10), bitrateKbps: 10, lossPercent: 0 },
      { at: t(30), bitrateKbps: 15, lossPercent: 0 },
    ]);
  });

  it('keeps the audio level with the latest stats', () => {
    const record = transition(fresh(), { ...stats(3, 10, 0), audioLevelDb: -12.5 }).record;
    expect(record.stats).toMatchObject({ audioLevelDb: -12.5 });
  });
});
