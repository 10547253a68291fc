/**
 * Maps every incoming RTP source onto one continuous outgoing stream for ffmpeg. ffmpeg's RTP demuxer binds to
 * the first SSRC it sees and treats a new SSRC or a sequence jump as garbage, so after a re-INVITE (new SSRC,
 * random sequence and timestamp) we re-anchor: the next packet continues our sequence by one and our timestamp
 * by the wall-clock time elapsed since the previous packet. Silence we forward in a gap (`fill`) takes the next
 * numbers too, so the stream ffmpeg sees never jumps, whoever produced a packet.
 */
import { randomUint32 } from './rtp-packet.ts';

const MAX_JUMP = 3000;

export interface Rewritten {
  sequence: number;
  timestamp: number;
  ssrc: number;
  /** true when this packet started a new anchor (new SSRC or restarted numbering). */
  reanchored: boolean;
}

export class RtpRewriter {
  readonly ssrc = randomUint32();
  private inSsrc: number | undefined;
  private seqOffset = 0;
  private tsOffset = 0;
  private lastOutSeq = randomUint32() & 0x7fff;
  private lastOutTs = randomUint32();
  private lastInSeq = 0;
  private lastAtMs = 0;
  private started = false;

  constructor(private readonly clockRate: number) {}

  /**
   * Numbers a packet of ours (silence in a gap) that stands for media at `mediaAtMs`: next sequence, timestamp
   * advanced by the time since the previous packet. The peer's next packet re-anchors after it.
   */
  fill(mediaAtMs: number): Rewritten {
    const elapsedTicks = this.started ? Math.max(1, Math.round(((mediaAtMs - this.lastAtMs) * this.clockRate) / 1000)) : 0;
    this.lastOutSeq = (this.lastOutSeq + 1) & 0xffff;
    this.lastOutTs = (this.lastOutTs + elapsedTicks) >>> 0;
    this.lastAtMs = mediaAtMs;
    this.started = true;
    this.inSsrc = undefined;
    return { sequence: this.lastOutSeq, timestamp: this.lastOutTs, ssrc: this.ssrc, reanchored: false };
  }

  map(ssrc: number, sequence: number, timestamp: number, nowMs: number): Rewritten {
    const jump = (sequence - this.lastInSeq + 0x10000) & 0xffff;
    let reanchored = false;
    if (!this.started || ssrc !== this.inSsrc || (jump > MAX_JUMP && jump < 0x10000 - MAX_JUMP)) {
      const elapsedTicks = this.started ? Math.max(1, Math.round(((nowMs - this.lastAtMs) * this.clockRate) / 1000)) : 0;
      this.seqOffset = (this.lastOutSeq + 1 - sequence) & 0xffff;
      this.tsOffset = (this.lastOutTs + elapsedTicks - timestamp) >>> 0;
      this.inSsrc = ssrc;
      reanchored = this.started;
      this.started = true;
    }
    const outSeq = (sequence + this.seqOffset) & 0xffff;
    const outTs = (timestamp + this.tsOffset) >>> 0;
    // Only in-order packets move the anchor forward; a late packet must not make the next re-anchor step back.
    if (((outSeq - this.lastOutSeq + 0x10000) & 0xffff) < 0x8000 || reanchored) {
      this.lastOutSeq = outSeq;
      this.lastOutTs = outTs;
      this.lastInSeq = sequence;
    }
    this.lastAtMs = nowMs;
    return { sequence: outSeq, timestamp: outTs, ssrc: this.ssrc, reanchored };
  }
}
