import { describe, expect, it } from 'vitest';
import { newCallRecord } from '../../functions/core/call-record.ts';
import { callUsage, LIST_PRICES } from '../../functions/core/call-usage.ts';
import type { CallRecord } from '../../functions/core/ports.ts';
import { makeSpec } from '../functions/call-store.suite.ts';

const T0 = '2026-12-05T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

function call(overrides: Partial<CallRecord>): CallRecord {
  const { record } = newCallRecord(makeSpec({ rtmpUrl: 'rtmp://cdn.example/live' }), T0);
  return { ...record, taskRef: 'arn:task/1', ...overrides };
}

const streamed = (seconds: number, bytes: number, destinations?: { url: string; bytesOut: number }[]) =>
  call({
    state: 'ended',
    stateTimes: { dialing: T0, answered: at(5), streaming: at(6), ended: at(6 + seconds) },
    stats: {
      rtpPackets: 0,
      rtpLost: 0,
      jitterMs: 0,
      bytesOut: bytes,
      at: at(6 + seconds),
      ...(destinations
        ? { destinations: destinations.map((d) => ({ ...d, state: 'live' as const, reconnects: 0 })) }
        : {}),
    },
  });

describe('callUsage', () => {
  it.each([
    [
      'a live call has none yet',
      call({ state: 'streaming', stateTimes: { dialing: T0, streaming: at(3) } }),
      undefined,
    ],
    [
      'an hour streamed: an hour of task, of media and its bytes, priced at the list prices',
      streamed(3594, 250_000_000),
      {
        taskSeconds: 3600,
        billableTaskSeconds: 3600,
        mediaSeconds: 3594,
        bytesOut: [{ url: 'rtmp://cdn.example/live', bytes: 250_000_000 }],
        estimatedCostUsd: 0.25 * 0.03238 + 0.5 * 0.00356 + 0.005 + 0.25 * 0.09,
      },
    ],
    [
      "a call under a minute bills Fargate's minimum minute",
      call({
        state: 'failed',
        stateTimes: { dialing: T0, failed: at(12) },
        failure: { reason: 'sip', message: '486' },
      }),
      {
        taskSeconds: 12,
        billableTaskSeconds: 60,
        mediaSeconds: 0,
        bytesOut: [{ url: 'rtmp://cdn.example/live', bytes: 0 }],
      },
    ],
    [
      'a call whose launch failed ran no task and bills nothing',
      call({
        taskRef: undefined,
        state: 'failed',
        stateTimes: { dialing: T0, failed: at(20) },
        failure: { reason: 'capacity', message: 'no room' },
      }),
      { taskSeconds: 0, billableTaskSeconds: 0, mediaSeconds: 0, estimatedCostUsd: 0 },
    ],
    [
      'each destination its own bytes',
      streamed(60, 3_000, [
        { url: 'rtmp://a/live', bytesOut: 1_000 },
        { url: 'rtmps://b/app', bytesOut: 2_000 },
      ]),
      {
        bytesOut: [
          { url: 'rtmp://a/live', bytes: 1_000 },
          { url: 'rtmps://b/app', bytes: 2_000 },
        ],
      },
    ],
  ])('%s', (_, record, expected) => {
    const usage = callUsage(record, LIST_PRICES);
    if (expected === undefined) return expect(usage).toBeUndefined();
    const { estimatedCostUsd, ...rest } = expected as { estimatedCostUsd?: number };
    expect(usage).toMatchObject(rest);
    if (estimatedCostUsd !== undefined) expect(usage!.estimatedCostUsd).toBeCloseTo(estimatedCostUsd, 4);
  });

  it('prices what the table says: a dearer data-out price costs more, the task part unchanged', () => {
    const record = streamed(600, 1e9);
    const cheap = callUsage(record, LIST_PRICES)!.estimatedCostUsd;
    const dear = callUsage(record, { ...LIST_PRICES, dataOutGbUsd: 0.19 })!.estimatedCostUsd;
    expect(dear - cheap).toBeCloseTo(0.1, 6);
  });
});
