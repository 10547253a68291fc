import { describe, expect, it } from 'vitest';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { CallEvent } from '../../functions/core/call-state.ts';
import { GatewayMetrics } from '../../functions/local/gateway-metrics.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { makeSpec } from './call-store.suite.ts';
import { MemoryCallStore } from './fakes.ts';

const T0 = Date.parse('2026-12-05T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** The value of one series in Prometheus text, e.g. `gateway_calls_failed_total{reason="sip"}`. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function setup() {
  const store = new MemoryCallStore();
  const metrics = new GatewayMetrics(store);
  const start = async (callId: string) => {
    const { record, secret } = newCallRecord(makeSpec({ callId }), at(0));
    await store.create(record, secret);
    metrics.changed(record, 'dialing');
  };
  const task = async (event: CallEvent) => metrics.recorded(await recordEvent(store, event), event);
  return { store, metrics, start, task };
}

const stats = (callId: string, seq: number, ms: number, rtpPackets: number, destinations: [number, number][]) =>
  ({
    type: 'stats',
    callId,
    seq,
    at: at(ms),
    rtpPackets,
    rtpLost: 1,
    jitterMs: 4,
    bytesOut: destinations.reduce((sum, [bytes]) => sum + bytes, 0),
    destinations: destinations.map(([bytesOut, reconnects]) => ({
      url: 'rtmp://x/live',
      state: 'live' as const,
      reconnects,
      bytesOut,
    })),
  }) as const;

describe('local Prometheus metrics', () => {
  it('counts calls by outcome, times set-up, and sums the stats of all calls by what grew', async () => {
    const { metrics, start, task } = await setup();
    await start('a');
    await start('b');
    await task({ type: 'dialing', callId: 'a', seq: 1, at: at(120) });
    await task({ type: 'answered', callId: 'a', seq: 2, at: at(1_000) });
    await task({ type: 'streaming', callId: 'a', seq: 3, at: at(1_090) });
    await task(
      stats('a', 4, 11_000, 500, [
        [10_000, 0],
        [8_000, 1],
      ]),
    );
    await task(
      stats('a', 5, 21_000, 1_000, [
        [20_000, 0],
        [16_000, 2],
      ]),
    );
    await task(
      stats('a', 5, 21_000, 1_000, [
        [20_000, 0],
        [16_000, 2],
      ]),
    ); // a duplicate adds nothing
    await task({
      type: 'failed',
      callId: 'b',
      seq: 1,
      at: at(3_000),
      reason: 'sip',
      message: '486 Busy Here',
      sipCode: 486,
    });

    let text = (await metrics.text()).body;
    expect(value(text, 'gateway_calls_started_total')).toBe(2);
    expect(value(text, 'gateway_calls{state="streaming"}')).toBe(1);
    expect(value(text, 'gateway_calls{state="dialing"}')).toBe(0);
    expect(value(text, 'gateway_calls_failed_total{reason="sip"}')).toBe(1);
    expect(value(text, 'gateway_post_to_dial_seconds_count')).toBe(1);
    expect(value(text, 'gateway_post_to_dial_seconds_sum')).toBeCloseTo(0.12, 6);
    expect(value(text, 'gateway_answer_to_media_seconds_sum')).toBeCloseTo(0.09, 6);
    expect(value(text, 'gateway_rtp_packets_received_total')).toBe(1_000);
    expect(value(text, 'gateway_rtmp_bytes_out_total{destination="0"}')).toBe(20_000);
    expect(value(text, 'gateway_rtmp_bytes_out_total{destination="1"}')).toBe(16_000);
    expect(value(text, 'gateway_rtmp_reconnects_total{destination="1"}')).toBe(2);
    expect(value(text, 'gateway_rtp_jitter_seconds_count')).toBe(2);

    await task({
      type: 'ended',
      callId: 'a',
      seq: 6,
      at: at(30_000),
      by: 'remote',
      reason: 'bye',
      durationSeconds: 29,
    });
    text = (await metrics.text()).body;
    expect(value(text, 'gateway_calls_ended_total{by="remote"}')).toBe(1);
    expect(value(text, 'gateway_calls{state="streaming"}')).toBe(0);
    // No series names a call.
    expect(text).not.toMatch(/callId|"a"|"b"/);
  });
});
