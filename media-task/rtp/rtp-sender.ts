/**
 * Our outgoing RTP stream towards the peer: comfort silence and RFC 4733 events share one SSRC, one sequence
 * space and one timestamp clock anchored to wall time, so the peer's jitter buffer sees a single steady stream.
 */
import { buildRtp, randomUint32 } from './rtp-packet.ts';
import { DtmfError, dtmfPayload, planDtmf } from './dtmf.ts';
import { FRAME_MS, silenceFrame } from './silence.ts';
import type { NegotiatedStream } from '../sip/sdp.ts';

export type SendDatagram = (packet: Buffer) => void;

interface SilenceRun {
  key: string;
  payloadType: number;
  clockRate: number;
  payload: Buffer;
  started: number;
  sent: number;
  /** The first packet that goes out carries the marker bit (start of a talkspurt, RFC 3551 4.1). */
  marked: boolean;
}

const MAX_BURST = 7;

/**
 * Comfort silence has no timer of its own: the endpoint calls `pump()` on each packet from the peer, or from
 * its 20 ms clock while the peer is quiet, so a call whose peer streams wakes the process once per packet.
 */
export class RtpSender {
  readonly ssrc = randomUint32();
  private sequence = randomUint32() & 0x7fff;
  private readonly tsOrigin = randomUint32();
  private readonly t0 = performance.now();
  private silence: SilenceRun | undefined;
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

  get sendingSilence(): boolean {
    return this.silence !== undefined;
  }

  /** false when the codec has no known silence frame or the peer does not want our media. */
  startSilence(stream: NegotiatedStream): boolean {
    if (this.closed) return false;
    // A re-INVITE may call this again: same codec, keep going; another codec or a peer that stopped listening, restart or stop.
    const key = `${stream.codec}/${stream.payloadType}/${stream.clockRate}`;
    const listening = stream.peerDirection !== 'sendonly' && stream.peerDirection !== 'inactive';
    if (this.silence?.key === key && listening) return true;
    this.stopSilence();
    if (!listening) return false;
    const frame = silenceFrame(stream.codec, stream.clockRate);
    if (!frame) return false;
    this.silence = { key, payloadType: stream.payloadType, clockRate: stream.clockRate, payload: frame.payload, started: performance.now(), sent: 0, marked: false };
    this.pump();
    return true;
  }

  /**
   * Sends the silence frames due by now. Counting the frames due since the start keeps 50 packets/s on average
   * however late the calls come. The endpoint's hand-over from a peer that went quiet comes up to 6 frames late
   * (its QUIET_MS, 100 ms, and timer slack): those go at once. After a longer stall (or a DTMF run) it skips
   * ahead instead of bursting.
   */
  pump(now = performance.now()): void {
    const run = this.silence;
    if (!run) return;
    const due = Math.floor((now - run.started) / FRAME_MS) + 1;
    if (due > run.sent + MAX_BURST) run.sent = due - 1;
    while (run.sent < due) {
      if (!this.inEvent) {
        this.emit(run.payloadType, !run.marked, this.timestampAt(run.started + run.sent * FRAME_MS, run.clockRate), run.payload);
        run.marked = true;
      }
      run.sent++;
    }
  }

  stopSilence(): void {
    this.silence = undefined;
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
