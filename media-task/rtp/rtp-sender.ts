/**
 * Our outgoing RTP stream towards the peer: which comfort silence it carries, and when each RFC 4733 event
 * packet goes. The relay (relay/rtp-relay.c) sends both on one SSRC, one sequence space and one timestamp clock
 * anchored to wall time, so the peer's jitter buffer sees a single steady stream; it paces the silence itself.
 */
import { DtmfError, dtmfPayload, planDtmf } from './dtmf.ts';
import { silenceFrame } from './silence.ts';
import type { NegotiatedStream } from '../sip/sdp.ts';

export interface OutgoingStream {
  /** 20 ms frames of `payload` from now on, in place of any before; undefined stops them. */
  silence(frame: { payloadType: number; clockRate: number; payload: Buffer } | undefined): void;
  /**
   * One RFC 4733 packet, now. Every packet of an event carries the timestamp of the event's planned start,
   * `startedAtMs` on CLOCK_MONOTONIC (process.hrtime, the relay's clock too); between an event's first and end
   * packets the silence pauses (RFC 4733 2.5.1.3).
   */
  event(packet: {
    payloadType: number;
    clockRate: number;
    first: boolean;
    end: boolean;
    startedAtMs: number;
    payload: Buffer;
  }): void;
}

/** CLOCK_MONOTONIC in ms, the clock the relay stamps events by; the schedule runs on it too. */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

export class RtpSender {
  /** The codec of the silence being sent, so that a re-INVITE keeping it does not restart its clock. */
  private silenceKey: string | undefined;
  private dtmfRunning = false;
  private readonly dtmfTimers = new Set<NodeJS.Timeout>();
  private readonly dtmfAborts = new Set<(error: Error) => void>();
  private closed = false;

  constructor(private readonly out: OutgoingStream) {}

  /** false when the codec has no known silence frame or the peer does not want our media. */
  startSilence(stream: NegotiatedStream): boolean {
    if (this.closed) return false;
    const key = `${stream.codec}/${stream.payloadType}/${stream.clockRate}`;
    const listening = stream.peerDirection !== 'sendonly' && stream.peerDirection !== 'inactive';
    if (this.silenceKey === key && listening) return true;
    const frame = listening ? silenceFrame(stream.codec, stream.clockRate) : undefined;
    if (!frame) {
      this.stopSilence();
      return false;
    }
    this.silenceKey = key;
    this.out.silence({ payloadType: stream.payloadType, clockRate: stream.clockRate, payload: frame.payload });
    return true;
  }

  stopSilence(): void {
    if (this.silenceKey === undefined) return;
    this.silenceKey = undefined;
    this.out.silence(undefined);
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
    const start = monotonicMs();
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        this.dtmfAborts.delete(finish);
        for (const timer of this.dtmfTimers) clearTimeout(timer);
        this.dtmfTimers.clear();
        this.dtmfRunning = false;
        if (error) reject(error);
        else resolve();
      };
      this.dtmfAborts.add(finish);
      let index = 0;
      const step = () => {
        const now = monotonicMs() - start;
        while (index < plan.packets.length && plan.packets[index]!.atMs <= now + 1) {
          const packet = plan.packets[index++]!;
          this.out.event({
            payloadType: te.payloadType,
            clockRate: te.clockRate,
            first: packet.marker,
            end: packet.end,
            startedAtMs: start + packet.eventStartMs,
            payload: dtmfPayload(packet),
          });
        }
        if (index < plan.packets.length) {
          const timer = setTimeout(step, Math.max(0, plan.packets[index]!.atMs - (monotonicMs() - start)));
          this.dtmfTimers.add(timer);
        } else {
          // The promise covers the trailing gap or pause too, so back-to-back calls keep the spacing.
          const timer = setTimeout(() => finish(), Math.max(0, plan.totalMs - (monotonicMs() - start)));
          this.dtmfTimers.add(timer);
        }
      };
      step();
    });
  }

  close(): void {
    this.closed = true;
    this.silenceKey = undefined;
    for (const abort of [...this.dtmfAborts]) abort(new DtmfError('RTP endpoint closed while sending DTMF'));
  }
}
