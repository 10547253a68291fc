/**
 * The local server's Prometheus metrics (prom-client), fed by the events its tasks report and the results the
 * recorder made of them: what each call went through, set-up latencies, and the RTP and RTMP counters the tasks'
 * stats carry, summed over calls. No label names a call: a label per call would grow the series without end.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isFinal } from '../../shared/call-types.ts';
import type { CallState, CallStats } from '../../shared/call-types.ts';
import type { StandbyRegistry, StandbyState } from '../../shared/standby-registry.ts';
import type { CallEvent } from '../core/call-state.ts';
import type { CallRecord, CallStore } from '../core/ports.ts';
import type { RecordResult } from '../recorder.ts';

const LIVE_STATES: CallState[] = ['dialing', 'ringing', 'answered', 'streaming'];
const STANDBY_STATES: StandbyState[] = ['starting', 'idle', 'claimed', 'assigned'];

/** A task's counters as last seen, so that each stats event adds what grew since. */
interface Seen {
  packets: number;
  lost: number;
  foreign: number;
  bytes: number[];
  reconnects: number[];
}

const seconds = (from: string | undefined, to: string | undefined) =>
  from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : undefined;

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly seen = new Map<string, Seen>();
  private readonly ended = new Counter({
    name: 'gateway_calls_ended_total',
    help: 'Calls that ended, by who hung up',
    labelNames: ['by'],
    registers: [this.registry],
  });
  private readonly failed = new Counter({
    name: 'gateway_calls_failed_total',
    help: 'Calls that failed, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly started = new Counter({
    name: 'gateway_calls_started_total',
    help: 'Calls accepted and launched',
    registers: [this.registry],
  });
  private readonly toDial = new Histogram({
    name: 'gateway_post_to_dial_seconds',
    help: "From the POST to the task's dialing: its INVITE follows once its RTP ports are bound",
    buckets: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  private readonly toMedia = new Histogram({
    name: 'gateway_answer_to_media_seconds',
    help: 'From the 200 OK to the first media on an RTMP server',
    buckets: [0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  private readonly packets = new Counter({
    name: 'gateway_rtp_packets_received_total',
    help: 'RTP packets received from peers',
    registers: [this.registry],
  });
  private readonly lost = new Counter({
    name: 'gateway_rtp_packets_lost_total',
    help: 'RTP packets lost on the way from peers (RFC 3550 A.3)',
    registers: [this.registry],
  });
  private readonly foreign = new Counter({
    name: 'gateway_rtp_foreign_dropped_total',
    help: "RTP packets dropped for coming from a source other than the peer's",
    registers: [this.registry],
  });
  private readonly jitter = new Histogram({
    name: 'gateway_rtp_jitter_seconds',
    help: 'Interarrival jitter of each stats report (RFC 3550 A.8)',
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
    registers: [this.registry],
  });
  private readonly bytesOut = new Counter({
    name: 'gateway_rtmp_bytes_out_total',
    help: "Bytes sent to RTMP servers, by the destination's place in its call (0 = rtmpUrl)",
    labelNames: ['destination'],
    registers: [this.registry],
  });
  private readonly reconnects = new Counter({
    name: 'gateway_rtmp_reconnects_total',
    help: "RTMP connections restarted after a destination dropped or refused, by the destination's place",
    labelNames: ['destination'],
    registers: [this.registry],
  });

  constructor(store: Pick<CallStore, 'list'>, standby?: Pick<StandbyRegistry, 'list'>) {
    if (standby) {
      new Gauge({
        name: 'gateway_standby_tasks',
        help: 'Standby media tasks, by state (idle ones are ready for a call)',
        labelNames: ['state'],
        registers: [this.registry],
        async collect() {
          const entries = await standby.list();
          for (const state of STANDBY_STATES) this.set({ state }, entries.filter((e) => e.state === state).length);
        },
      });
    }
    new Gauge({
      name: 'gateway_calls',
      help: 'Live calls, by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const live = await store.list({ live: true });
        for (const state of LIVE_STATES) this.set({ state }, live.filter((call) => call.state === state).length);
      },
    });
  }

  /** A state change the API made itself (a new call's `dialing`, a launch that failed, a hang-up without task). */
  changed(record: CallRecord, to: CallState): void {
    if (to === 'dialing') this.started.inc();
    if (to === 'streaming')
      this.observeLatency(this.toMedia, seconds(record.stateTimes.answered, record.stateTimes.streaming));
    if (isFinal(to)) {
      this.seen.delete(record.callId);
      if (to === 'ended') this.ended.inc({ by: record.ended?.by ?? 'unknown' });
      else this.failed.inc({ reason: record.failure?.reason ?? 'unknown' });
    }
  }

  /** What the recorder made of a task's event, or of the sweeper's verdict (no event). */
  recorded(result: RecordResult, event?: CallEvent): void {
    const record = result.record;
    if (!record) return;
    if (event?.type === 'dialing') this.observeLatency(this.toDial, seconds(record.createdAt, event.at));
    if (event?.type === 'stats' && result.applied) this.observeStats(record.callId, event);
    for (const effect of result.effects) if (effect.type === 'state-changed') this.changed(record, effect.to);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private observeLatency(histogram: Histogram, value: number | undefined): void {
    if (value !== undefined && value >= 0) histogram.observe(value);
  }

  private observeStats(callId: string, stats: CallStats): void {
    const seen = this.seen.get(callId) ?? { packets: 0, lost: 0, foreign: 0, bytes: [], reconnects: [] };
    // Counters only grow: a task's totals that went down (a restarted relay) count from their new start.
    const grew = (now: number, before: number) => Math.max(0, now - before);
    this.packets.inc(grew(stats.rtpPackets, seen.packets));
    this.lost.inc(grew(stats.rtpLost, seen.lost));
    this.foreign.inc(grew(stats.rtpForeignDropped ?? 0, seen.foreign));
    this.jitter.observe(stats.jitterMs / 1000);
    const destinations = stats.destinations ?? [{ bytesOut: stats.bytesOut, reconnects: 0 }];
    destinations.forEach((destination, index) => {
      const labels = { destination: String(index) };
      this.bytesOut.inc(labels, grew(destination.bytesOut, seen.bytes[index] ?? 0));
      this.reconnects.inc(labels, grew(destination.reconnects, seen.reconnects[index] ?? 0));
    });
    this.seen.set(callId, {
      packets: stats.rtpPackets,
      lost: stats.rtpLost,
      foreign: stats.rtpForeignDropped ?? 0,
      bytes: destinations.map((destination) => destination.bytesOut),
      reconnects: destinations.map((destination) => destination.reconnects),
    });
  }
}
