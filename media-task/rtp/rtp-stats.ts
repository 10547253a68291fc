/**
 * Reception statistics of one RTP stream, kept as RFC 3550 appendix A.1, A.3 and A.8 define them: loss from the
 * extended highest sequence number, interarrival jitter from transit-time differences. A new SSRC (the peer
 * restarted its stream after a re-INVITE) starts a new source whose counts add to the totals.
 */
export interface RtpStatsSnapshot {
  packets: number;
  lost: number;
  jitterMs: number;
  /** Date.now() of the last packet, for the inactivity timeout the caller runs. */
  lastPacketAt?: number;
}

interface Source {
  ssrc: number;
  baseSeq: number;
  maxSeq: number;
  cycles: number;
  received: number;
  transit?: number;
  jitter: number;
}

/** Sequence jumps larger than this are a restarted stream, not loss (RFC 3550 A.1 MAX_DROPOUT). */
const MAX_DROPOUT = 3000;

export class RtpStats {
  private source: Source | undefined;
  private closedReceived = 0;
  private closedLost = 0;
  private lastAt: number | undefined;

  constructor(private readonly clockRate: number) {}

  /**
   * `arrivalMs` is a monotonic clock; `timestamp` is only used for jitter, so packets whose timestamps do not
   * follow the media clock (RFC 4733 events repeat theirs) pass `countJitter = false`.
   */
  record(ssrc: number, sequence: number, timestamp: number, arrivalMs: number, wallMs: number, countJitter = true): void {
    this.lastAt = wallMs;
    let source = this.source;
    if (!source || source.ssrc !== ssrc) {
      this.retire();
      source = this.source = { ssrc, baseSeq: sequence, maxSeq: sequence, cycles: 0, received: 0, jitter: 0 };
    } else {
      const delta = (sequence - source.maxSeq + 0x10000) & 0xffff;
      if (delta > 0 && delta < MAX_DROPOUT) {
        if (sequence < source.maxSeq) source.cycles += 0x10000;
        source.maxSeq = sequence;
      } else if (delta >= MAX_DROPOUT && delta <= 0xffff - 100) {
        // A jump neither forward nor a late duplicate: the sender restarted its numbering.
        this.retire();
        source = this.source = { ssrc, baseSeq: sequence, maxSeq: sequence, cycles: 0, received: 0, jitter: 0 };
      }
    }
    source.received++;
    if (countJitter) {
      const arrival = (arrivalMs * this.clockRate) / 1000;
      const transit = arrival - timestamp;
      if (source.transit !== undefined) {
        let d = Math.abs(transit - source.transit);
        // A 32-bit timestamp wrap looks like a huge transit jump; it is not jitter.
        if (d > 0x8000_0000) d = Math.abs(d - 0x1_0000_0000);
        source.jitter += (d - source.jitter) / 16;
      }
      source.transit = transit;
    }
  }

  snapshot(): RtpStatsSnapshot {
    const source = this.source;
    const expected = source ? source.cycles + source.maxSeq - source.baseSeq + 1 : 0;
    const lostNow = source ? Math.max(0, expected - source.received) : 0;
    return {
      packets: this.closedReceived + (source?.received ?? 0),
      lost: this.closedLost + lostNow,
      jitterMs: source ? (source.jitter / this.clockRate) * 1000 : 0,
      ...(this.lastAt !== undefined ? { lastPacketAt: this.lastAt } : {}),
    };
  }

  private retire(): void {
    const source = this.source;
    if (!source) return;
    const expected = source.cycles + source.maxSeq - source.baseSeq + 1;
    this.closedReceived += source.received;
    this.closedLost += Math.max(0, expected - source.received);
    this.source = undefined;
  }
}
