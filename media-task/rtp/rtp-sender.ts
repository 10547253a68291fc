/**
 * Our outgoing RTP stream towards the peer: comfort silence and RFC 4733 events share one SSRC, one sequence
 * space and one timestamp clock anchored to wall time, so the peer's jitter buffer sees a single steady stream.
 */
import { buildRtp, randomUint32 } from './rtp-packet.ts';
import { DtmfError, dtmfPayload, planDtmf } from './dtmf.ts';
import { FRAME_MS, silenceFrame } from './silence.ts';
import type { NegotiatedStream } from '../sip/sdp.ts';

export type SendDatagram = (packet: Buffer) => void;

export class RtpSender {
  readonly ssrc = randomUint32();
  private sequence = randomUint32() & 0x7fff;
  private readonly tsOrigin = randomUint32();
  private readonly t0 = performance.now();
  private silenceTimer: NodeJS.Timeout | undefined;
  private silenceOf: string | undefined;
  private dtmfRunning = false;
  /** True between an event's first and end packets: audio and the event must not overlap (RFC 4733 2.5.1.3). */
  private inEvent = false;
  private readonly dtmfTimers = new Set<NodeJS.Timeout>();
  private readonly dtmfAborts = new Set<(error: Error) => void>();
  private closed = false;

  constructor(private readonly send: SendDatagram) {}

  /** The RTP timestamp of a performance.now() instant, in the stream's clock. */
  private timestampAt(nowMs: number, clockRate: number): number {
    return (this.tsOrigin + Math.round(((nowMs - this.t0) * clockRate) / 1000)) >>> 0;
  }

  private emit(payloadType: number, marker: boolean, timestamp: number, payload: Buffer): void {
    this.sequence = (this.sequence + 1) & 0xffff;
    this.send(buildRtp({ marker, payloadType, sequence: this.sequence, timestamp, ssrc: this.ssrc }, payload));
  }

  /** false when the codec has no known silence frame or the peer does not want our media. */
  startSilence(stream: NegotiatedStream): boolean {
    if (this.closed) return false;
    // A re-INVITE may call this again: same codec, keep going; another codec or a peer that stopped listening, restart or stop.
    const key = `${stream.codec}/${stream.payloadType}/${stream.clockRate}`;
    if (this.silenceTimer && this.silenceOf === key && stream.peerDirection !== 'sendonly' && stream.peerDirection !== 'inactive') return true;
    this.stopSilence();
    if (stream.peerDirection === 'sendonly' || stream.peerDirection === 'inactive') return false;
    const frame = silenceFrame(stream.codec, stream.clockRate);
    if (!frame) return false;
    this.silenceOf = key;
    const started = performance.now();
    let sent = 0;
    let first = true;
    // Timers drift late; counting frames due since the start keeps 50 packets/s on average without bursts.
    const tick = () => {
      const now = performance.now();
      const due = Math.floor((now - started) / FRAME_MS) + 1;
      if (due > sent + 3) sent = due - 1; // after a stall (or a DTMF run) skip, never burst
      while (sent < due) {
        if (!this.inEvent) {
          this.emit(stream.payloadType, first, this.timestampAt(started + sent * FRAME_MS, stream.clockRate), frame.payload);
          first = false;
        }
        sent++;
      }
      this.silenceTimer = setTimeout(tick, Math.max(1, started + sent * FRAME_MS - performance.now()));
    };
    tick();
    return true;
  }

  stopSilence(): void {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
  }

  /** Resolves once the last end packet is sent; rejects with DtmfError if closed first or the peer has no telephone-event. */
  sendDtmf(digits: string, stream: NegotiatedStream): Promise<void> {
    const te = stream.telephoneEvent;
    if (!te) return Promise.reject(new DtmfError('the peer did not negotiate telephone-event'));
    if (this.closed) return Promise.reject(new DtmfError('RTP endpoint closed'));
    if (this.dtmfRunning) return Promise.reject(new DtmfError('DTMF already being sent'));
    let plan: ReturnType<typeof planDtmf>;
    try {
      plan = planDtmf(digits, te.clockRate);
    } catch (error) {
      return Promise.reject(error);
    }
    this.dtmfRunning = true;
    const start = performance.now();
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        this.dtmfAborts.delete(finish);
        for (const timer of this.dtmfTimers) clearTimeout(timer);
        this.dtmfTimers.clear();
        this.dtmfRunning = false;
        this.inEvent = false;
        if (error) reject(error);
        else resolve();
      };
      this.dtmfAborts.add(finish);
      let index = 0;
      const step = () => {
        const now = performance.now() - start;
        while (index < plan.packets.length && plan.packets[index]!.atMs <= now + 1) {
          const packet = plan.packets[index++]!;
          this.inEvent = !packet.end;
          this.emit(te.payloadType, packet.marker, this.timestampAt(start + packet.eventStartMs, te.clockRate), dtmfPayload(packet));
        }
        if (index < plan.packets.length) {
          const timer = setTimeout(step, Math.max(0, plan.packets[index]!.atMs - (performance.now() - start)));
          this.dtmfTimers.add(timer);
        } else {
          // The promise covers the trailing gap or pause too, so back-to-back calls keep the spacing.
          const timer = setTimeout(() => finish(), Math.max(0, plan.totalMs - (performance.now() - start)));
          this.dtmfTimers.add(timer);
        }
      };
      step();
    });
  }

  close(): void {
    this.closed = true;
    this.stopSilence();
    for (const abort of [...this.dtmfAborts]) abort(new DtmfError('RTP endpoint closed while sending DTMF'));
  }
}
