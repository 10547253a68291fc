/**
 * Our side of RFC 4028 in an established call: when a 2xx names us refresher, a re-INVITE at half the session
 * interval, and what each way a peer can refuse one means. The call owns the dialog and the SDP; this owns the
 * timer and the Min-SE a 422 gave us.
 */
import type { Logger } from '../../shared/log.ts';
import {
  inviteTimerHeaders,
  minSeOf,
  refreshDelayMs,
  sessionExpiresOf,
  type Refresher,
  type SessionExpires,
} from './session-timer.ts';
import type { IncomingResponse } from './sip-stack.ts';

export interface RefreshedCall {
  /** False once the call is ending: a timer or answer that arrives then does nothing. */
  live(): boolean;
  /**
   * A re-INVITE in the dialog offering our last SDP again (RFC 3264 section 8; every peer takes re-INVITE, not
   * every peer takes UPDATE). The call ACKs each 2xx; `onFinal` sees every final response, retransmissions too.
   */
  reinvite(headers: Record<string, string>, onFinal: (response: IncomingResponse) => void): void;
  /** The first 2xx to a refresh: its answer may still move the peer's ports. */
  refreshed(response: IncomingResponse): void;
  /** RFC 4028 section 10: a refresh that times out or finds no dialog means the session is gone. */
  gone(sipCode: number | undefined): void;
}

export class SessionRefresher {
  /** From a 422 (RFC 4028 section 7.4): every INVITE after it, refreshes included, carries it. */
  minSe: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly call: RefreshedCall,
    private readonly log: Logger,
  ) {}

  /**
   * RFC 4028 section 10: every 2xx to an INVITE or UPDATE renegotiates the session timer. When it names our side
   * as refresher we refresh at half the interval; otherwise the peer does, or there is no timer at all.
   */
  arm(session: SessionExpires | undefined, ourRole: Refresher): void {
    this.stop();
    if (!session || session.refresher !== ourRole) return;
    this.timer = setTimeout(() => this.send(session.interval), refreshDelayMs(session.interval));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private send(interval: number): void {
    this.timer = undefined;
    if (!this.call.live()) return;
    let answered = false;
    this.call.reinvite(inviteTimerHeaders(this.minSe, { interval, refresher: 'uac' }), (response) => {
      if (!this.call.live()) return;
      if (response.status < 300) {
        if (answered) return;
        answered = true;
        this.arm(sessionExpiresOf(response.headers.extra), 'uac');
        return this.call.refreshed(response);
      }
      const minSe = response.status === 422 ? minSeOf(response.headers.extra) : undefined;
      if (minSe !== undefined && minSe > interval) {
        this.minSe = minSe;
        return this.send(minSe);
      }
      // RFC 3261 section 14.1: glare with a re-INVITE of the peer's; we own the Call-ID, so we wait 2.1 to 4 s.
      if (response.status === 491) {
        this.stop();
        this.timer = setTimeout(() => this.send(interval), 2100 + Math.random() * 1900);
        return;
      }
      if (response.status === 408 || response.status === 481)
        return this.call.gone(response.local ? undefined : response.status);
      this.log.warn('session refresh refused; the peer ends the session when it expires', { sipCode: response.status });
    });
  }
}
