/**
 * One outgoing SIP call as a user agent client (RFC 3261 sections 12-15): optional REGISTER, INVITE with our SDP
 * offer, ACK for 2xx, the in-dialog requests a peer may send (BYE, re-INVITE, UPDATE, OPTIONS, INFO), RFC 4028
 * session refreshes when the peer makes us the refresher, BYE or CANCEL at the end, unREGISTER. Every outcome
 * arrives as exactly one `ended` or `failed` event; nothing throws.
 *
 *   start ─► registering ─► inviting ─► answered ─► ending ─► done
 *                 │            │  └─ CANCEL (timeout/hangup) ─┘      ▲
 *                 └────────────┴──────── failed ─────────────────────┘
 */
import { isIP } from 'node:net';
import type { Logger } from '../../shared/log.ts';
import { TypedEmitter } from '../typed-emitter.ts';
import { answerReoffer, buildOffer, parseAnswer, type LocalMedia, type NegotiatedMedia } from './sdp.ts';
import { Dialog, withTransport } from './dialog.ts';
import { ChallengeResponder, sendAuthenticated, type Credentials } from './sip-auth.ts';
import { SipCallStateError, SipRequestError } from './sip-errors.ts';
import { SessionRefresher } from './session-refresher.ts';
import { inviteTimerHeaders, minSeOf, sessionExpiresOf } from './session-timer.ts';
import { Registration, USER_AGENT } from './registration.ts';
import {
  openSipStack,
  randomToken,
  type IncomingRequest,
  type IncomingResponse,
  type OutgoingRequest,
  type SipAddress,
  type SipStack,
  type SipTransportName,
} from './sip-stack.ts';

export interface SipCallOptions {
  transport: SipTransportName;
  /**
   * Request-URI `sip:user@host:port`. A `user` holding `@` (`alice@pbx.example`) is a whole address: it becomes the
   * Request-URI and host:port serves as outbound proxy. An empty `user` dials the host itself.
   */
  target: { user: string; host: string; port: number };
  from: { user: string; domain: string };
  credentials?: Credentials;
  register: boolean;
  bindAddress: string;
  /** 0 or absent: any free port. */
  bindPort?: number;
  /** Without bindPort: a free port inside this inclusive range (MEDIA_PORTS). */
  bindPortRange?: { min: number; max: number };
  publicAddress: string;
  local: LocalMedia;
  /** TLS only: an extra trusted CA (PEM), for private PBXs and tests. */
  tlsCa?: string;
  inviteTimeoutMs?: number;
  logger: Logger;
}

export type SipFailureReason = 'sip' | 'auth' | 'timeout' | 'internal';

export type SipCallEvents = {
  ringing: [];
  /**
   * The 2xx arrived and was ACKed. An unreadable SDP answer, or m-lines with no codec we offered, port 0, a port
   * beyond 65535 or a non-IPv4 address, leave the matching stream out: `{}` when nothing is usable, and the
   * caller decides (the call runner hangs up with "the peer accepted no media stream"). A 2xx whose Contact
   * cannot be a Request-URI is `failed` with reason 'sip' instead, since no ACK or BYE could reach the peer.
   */
  answered: [NegotiatedMedia];
  mediaChanged: [NegotiatedMedia];
  ended: [{ by: 'local' | 'remote'; sipCode?: number; reason: string }];
  /** `timeout` also covers our CANCEL after `inviteTimeoutMs`; a CANCEL from hangup() ends with reason 'cancelled'. */
  failed: [{ reason: SipFailureReason; sipCode?: number; message: string }];
};

export interface SipCall extends TypedEmitter<SipCallEvents> {
  /** BYE once answered, CANCEL before; idempotent. Resolves after the transaction, the unREGISTER and closing the socket. */
  hangup(): Promise<void>;
  /** SIP INFO application/dtmf-relay, one digit; rejects with SipRequestError/SipCallStateError. */
  sendInfoDtmf(digit: string, durationMs: number): Promise<void>;
}

export function startSipCall(options: SipCallOptions): SipCall {
  return new SipCallSession(options);
}

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE';
/** RFC 3261 section 17.1.1.2: 64*T1, how long a transaction may take. */
const TRANSACTION_TIMEOUT_MS = 32_000;
/** How long a CANCEL may wait for the 487 before we call the INVITE over. */
const CANCEL_GRACE_MS = 4_000;
const T1 = 500;
const T2 = 4000;

type State = 'starting' | 'inviting' | 'answered' | 'ending' | 'done';
type Final = { type: 'ended'; body: SipCallEvents['ended'][0] } | { type: 'failed'; body: SipCallEvents['failed'][0] };

class SipCallSession extends TypedEmitter<SipCallEvents> implements SipCall {
  private state: State = 'starting';
  private stack: SipStack | undefined;
  private registration: Registration | undefined;
  private readonly responder: ChallengeResponder;
  private readonly log: Logger;
  private dialog!: Dialog;
  private readonly sessionId = String(Math.floor(Date.now() / 1000));
  private sessionVersion = 1;
  private ack: OutgoingRequest | undefined;
  private provisionalSeen = false;
  private cancelFor: 'timeout' | 'local' | undefined;
  private cancelSent = false;
  private invite: ReturnType<typeof sendAuthenticated> | undefined;
  private final: Final | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private pendingAck: { seq: number; stop: () => void; offerInAck: boolean } | undefined;
  /** The last SDP we sent, offer or answer: a session refresh offers it again unchanged (RFC 3264 section 8). */
  private localSdp = '';
  private media: NegotiatedMedia = {};
  private readonly refresher: SessionRefresher;
  private dtmfChain: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private resolveDone!: () => void;
  private readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(private readonly options: SipCallOptions) {
    super((error, event) => options.logger.error('SIP call listener failed', { event, error }));
    this.log = options.logger;
    this.responder = new ChallengeResponder(options.credentials);
    this.refresher = new SessionRefresher(
      {
        live: () => this.state === 'answered',
        reinvite: (headers, onFinal) => this.sendRefresh(headers, onFinal),
        refreshed: (response) => this.onRefreshAnswer(response),
        gone: (sipCode) =>
          this.sendBye({ type: 'ended', body: { by: 'local', reason: 'session-refresh-failed', sipCode } }),
      },
      this.log,
    );
    void this.run().catch((error: unknown) =>
      this.finish({ type: 'failed', body: { reason: 'internal', message: describe(error) } }),
    );
  }

  hangup(): Promise<void> {
    if (this.state === 'inviting') {
      this.requestCancel('local');
    } else if (this.state === 'answered') {
      this.sendBye();
    } else if (this.state === 'starting') {
      // run() notices after its current await and ends without dialling.
      this.cancelFor = 'local';
    }
    return this.done;
  }

  sendInfoDtmf(digit: string, durationMs: number): Promise<void> {
    if (!/^[0-9*#A-D]$/i.test(digit))
      return Promise.reject(new SipCallStateError(`not a DTMF digit: ${JSON.stringify(digit)}`));
    const send = () =>
      new Promise<void>((resolve, reject) => {
        if (this.state !== 'answered') return reject(new SipCallStateError(`cannot send DTMF while ${this.state}`));
        const body = `Signal=${digit.toUpperCase()}\r\nDuration=${Math.max(1, Math.round(durationMs))}\r\n`;
        this.inDialog('INFO', { 'content-type': 'application/dtmf-relay' }, body, (response) => {
          if (response.status >= 200 && response.status < 300) resolve();
          else
            reject(
              new SipRequestError(
                `INFO answered ${response.status} ${response.reason}`,
                'INFO',
                response.local ? undefined : response.status,
              ),
            );
        });
      });
    // Serialized so digits cannot overtake one another on UDP.
    const result = this.dtmfChain.then(send);
    this.dtmfChain = result.catch(() => {});
    return result;
  }

  private async run(): Promise<void> {
    const { options } = this;
    const stack = await openSipStack({
      transport: options.transport,
      bindAddress: options.bindAddress,
      bindPort: options.bindPort,
      bindPortRange: options.bindPortRange,
      publicAddress: options.publicAddress,
      tls: { ca: options.tlsCa, servername: isIP(options.target.host) ? undefined : options.target.host },
      logger: this.log,
    });
    this.stack = stack;
    stack.onRequest((request) => {
      try {
        this.onRequest(request);
      } catch (error) {
        this.log.error('handling an incoming SIP request failed', { method: request.method, error });
      }
    });
    this.dialog = this.createDialog();
    if (options.register) {
      this.registration = new Registration(stack, this.responder, {
        registrarUri: withTransport(`sip:${options.from.domain}:${options.target.port}`, options.transport),
        aor: `sip:${escapeUser(options.from.user)}@${options.from.domain}`,
        contact: this.contact(),
        logger: this.log,
      });
      const outcome = await this.registration.register();
      if (!outcome.ok)
        return this.finish({
          type: 'failed',
          body: { reason: outcome.reason, sipCode: outcome.sipCode, message: outcome.message },
        });
    }
    if (this.cancelFor) return this.finish({ type: 'ended', body: { by: 'local', reason: 'cancelled' } });
    this.sendInvite();
  }

  /** See SipCallOptions.target for the `user@host` and empty-user forms. */
  private createDialog(): Dialog {
    const { user, host, port } = this.options.target;
    const transport = this.options.transport;
    const hostPort = `${host}:${port}`;
    const at = user.lastIndexOf('@');
    const requestUri =
      at >= 0
        ? withTransport(`sip:${escapeUser(user.slice(0, at))}@${user.slice(at + 1)}`, transport)
        : withTransport(user ? `sip:${escapeUser(user)}@${hostPort}` : `sip:${hostPort}`, transport);
    return new Dialog({
      callId: randomToken(),
      localTag: randomToken(),
      localUri: `sip:${escapeUser(this.options.from.user)}@${this.options.from.domain}`,
      requestUri,
      outboundRoute: at >= 0 ? [{ uri: withTransport(`sip:${hostPort}`, transport) + ';lr', params: {} }] : [],
    });
  }

  private sendInvite(): void {
    this.state = 'inviting';
    this.schedule(() => this.requestCancel('timeout'), this.options.inviteTimeoutMs ?? 60_000);
    this.localSdp = buildOffer(this.options.local, this.sessionVersion, this.sessionId);
    this.sendInviteAttempt();
  }

  /** The INVITE, or its retry after a 422: same Call-ID and tag, the next CSeq (RFC 4028 section 7.4). */
  private sendInviteAttempt(): void {
    const timer = inviteTimerHeaders(this.refresher.minSe);
    this.invite = sendAuthenticated(
      this.stack!,
      this.responder,
      () => this.dialog.nextSeq(),
      (cseq) =>
        this.dialog.invite(
          cseq,
          this.contact(),
          { allow: ALLOW, ...timer, 'content-type': 'application/sdp', 'user-agent': USER_AGENT },
          this.localSdp,
        ),
      (response, request) => this.onInviteResponse(response, request),
    );
  }

  private onInviteResponse(response: IncomingResponse, request: OutgoingRequest): void {
    if (this.state === 'done') return;
    if (response.status < 200) {
      if (response.status === 100) return;
      this.provisionalSeen = true;
      // RFC 3261 section 9.1: a CANCEL may only follow a provisional response.
      if (this.cancelFor && !this.cancelSent) this.sendCancel();
      if (!this.cancelFor && (response.status === 180 || response.status === 183)) this.emitRingingOnce();
      return;
    }
    if (response.status < 300) return this.onInviteAccepted(response, request);
    if (this.cancelFor) return this.finishCancel();
    // Taken once, so a second 422 fails the call instead of looping.
    const minSe =
      response.status === 422 && this.refresher.minSe === undefined ? minSeOf(response.headers.extra) : undefined;
    if (minSe !== undefined) {
      this.refresher.minSe = minSe;
      this.provisionalSeen = false;
      return this.sendInviteAttempt();
    }
    if (response.status === 401 || response.status === 407) {
      return this.finish({
        type: 'failed',
        body: {
          reason: 'auth',
          sipCode: response.status,
          message: `INVITE refused: ${response.status} ${response.reason}`,
        },
      });
    }
    if (response.local) {
      const timeout = response.status === 408;
      return this.finish({
        type: 'failed',
        body: {
          reason: timeout ? 'timeout' : 'sip',
          message: timeout
            ? 'no answer to INVITE'
            : `could not reach the SIP peer${response.reason ? `: ${response.reason}` : ''}`,
        },
      });
    }
    this.finish({
      type: 'failed',
      body: {
        reason: 'sip',
        sipCode: response.status,
        message: `INVITE answered ${response.status} ${response.reason}`,
      },
    });
  }

  private ringingEmitted = false;
  private emitRingingOnce(): void {
    if (this.ringingEmitted) return;
    this.ringingEmitted = true;
    this.emit('ringing');
  }

  private onInviteAccepted(response: IncomingResponse, request: OutgoingRequest): void {
    if (this.ack) {
      // RFC 3261 section 13.2.2.4: every 2xx retransmission gets the ACK again.
      if (this.dialog.isSameRemote(response)) this.stack!.ack(this.ack);
      return;
    }
    this.dialog.establish(response);
    const ack = this.dialog.request('ACK', request.headers.cseq.seq, undefined, { 'user-agent': USER_AGENT });
    const unusable = (error: unknown): Final => ({
      type: 'failed',
      body: { reason: 'sip', message: `unusable 2xx to INVITE: ${describe(error)}` },
    });
    try {
      // Found unroutable once the next hop is looked up (a Contact or Route on a refused address): the BYE that
      // follows fails the same way and ends the call with this reason.
      this.stack!.ack(ack, (error) => this.sendBye(unusable(error)));
    } catch (error) {
      // The peer's Contact cannot be a Request-URI (SipHeaderError): neither ACK nor BYE can reach it.
      return this.finish(unusable(error));
    }
    this.ack = ack;
    this.clearTimers();
    if (this.cancelFor) {
      // Our CANCEL crossed the 2xx: the call exists now and has to be ended with a BYE.
      this.state = 'answered';
      this.sendBye(
        this.cancelFor === 'timeout'
          ? { type: 'failed', body: { reason: 'timeout', message: 'answered after the INVITE timeout' } }
          : undefined,
      );
      return;
    }
    this.state = 'answered';
    try {
      this.media = parseAnswer(response.body);
    } catch (error) {
      this.log.warn('unreadable SDP answer', { error });
    }
    this.emit('answered', this.media);
    this.refresher.arm(sessionExpiresOf(response.headers.extra), 'uac');
  }

  private sendRefresh(timerHeaders: Record<string, string>, onFinal: (response: IncomingResponse) => void): void {
    this.inDialog(
      'INVITE',
      { allow: ALLOW, ...timerHeaders, 'content-type': 'application/sdp' },
      this.localSdp,
      (response) => {
        // Every 2xx retransmission gets the ACK again (RFC 3261 section 13.2.2.4).
        if (response.status < 300)
          this.stack!.ack(
            this.dialog.request('ACK', response.headers.cseq.seq, undefined, { 'user-agent': USER_AGENT }),
          );
        onFinal(response);
      },
    );
  }

  private onRefreshAnswer(response: IncomingResponse): void {
    if (!response.body.trim()) return;
    try {
      const media = parseAnswer(response.body);
      // The answer to an unchanged offer may still move the peer's ports (RFC 3264 section 8).
      if (JSON.stringify(media) !== JSON.stringify(this.media)) {
        this.media = media;
        this.emit('mediaChanged', media);
      }
    } catch (error) {
      this.log.warn('unreadable SDP answer to a session refresh', { error });
    }
  }

  private requestCancel(reason: 'timeout' | 'local'): void {
    if (this.state !== 'inviting' || this.cancelFor) return;
    this.cancelFor = reason;
    // No provisional response means nothing rings (or the peer is unreachable) and a CANCEL may not be sent
    // (RFC 3261 section 9.1): end now rather than wait out timer B, which outlasts ECS's stop grace period.
    if (!this.provisionalSeen) return this.finishCancel();
    this.sendCancel();
    // A peer that never answers the CANCEL with 487 must not hold the task past its shutdown deadline.
    this.schedule(() => this.finishCancel(), CANCEL_GRACE_MS);
  }

  private sendCancel(): void {
    this.cancelSent = true;
    this.invite?.transaction().cancel();
  }

  private finishCancel(): void {
    if (this.cancelFor === 'timeout') {
      const ms = this.options.inviteTimeoutMs ?? 60_000;
      this.finish({
        type: 'failed',
        body: { reason: 'timeout', message: `no final answer to INVITE within ${ms} ms; cancelled` },
      });
    } else {
      this.finish({ type: 'ended', body: { by: 'local', reason: 'cancelled' } });
    }
  }

  private sendBye(final?: Final): void {
    if (this.state !== 'answered') return;
    this.state = 'ending';
    this.pendingAck?.stop();
    this.refresher.stop();
    const guard = setTimeout(
      () => this.finish(final ?? { type: 'ended', body: { by: 'local', reason: 'hangup' } }),
      TRANSACTION_TIMEOUT_MS + 1000,
    );
    this.timers.add(guard);
    try {
      this.inDialog('BYE', {}, undefined, (response) => {
        this.finish(
          final ?? {
            type: 'ended',
            body: { by: 'local', reason: 'hangup', sipCode: response.local ? undefined : response.status },
          },
        );
      });
    } catch (error) {
      this.log.error('BYE not sent', { error });
      this.finish(final ?? { type: 'ended', body: { by: 'local', reason: 'hangup' } });
    }
  }

  /** Requests the peer sends inside the dialog or at our Contact (RFC 3261 section 12.2.2). */
  private onRequest(request: IncomingRequest): void {
    const stack = this.stack!;
    const { method } = request;
    if (this.state === 'done') return;
    if (method === 'ACK') return this.onAck(request);
    const inDialog = (this.state === 'answered' || this.state === 'ending') && this.dialog.matches(request);
    if (method === 'OPTIONS')
      return stack.respond(request, 200, 'OK', { headers: { allow: ALLOW, accept: 'application/sdp' } });
    // We place calls, we never take them: a fresh INVITE is declined, anything else outside our dialog is unknown.
    if (!inDialog && method === 'INVITE' && !request.headers.to.params.tag)
      return stack.respond(request, 603, 'Decline');
    if (!inDialog) return stack.respond(request, 481, 'Call/Transaction Does Not Exist');
    if (method === 'CANCEL') return stack.respond(request, 200, 'OK');
    if (!this.dialog.acceptRemoteSeq(request.headers.cseq.seq))
      return stack.respond(request, 500, 'Server Internal Error');
    switch (method) {
      case 'BYE':
        stack.respond(request, 200, 'OK');
        if (this.state === 'answered') this.finish({ type: 'ended', body: { by: 'remote', reason: 'bye' } });
        return;
      case 'INFO':
        return stack.respond(request, 200, 'OK');
      case 'INVITE':
      case 'UPDATE':
        return this.onReoffer(request);
      default:
        return stack.respond(request, 501, 'Not Implemented', { headers: { allow: ALLOW } });
    }
  }

  /** re-INVITE or UPDATE: hold/unhold, codec change or an RFC 4028 session refresh. */
  private onReoffer(request: IncomingRequest): void {
    const stack = this.stack!;
    if (this.state !== 'answered') return stack.respond(request, 491, 'Request Pending');
    this.dialog.refreshTarget(request);
    const headers: Record<string, string> = { allow: ALLOW, supported: 'timer' };
    const requested = sessionExpiresOf(request.headers.extra);
    // RFC 4028 section 9: a refresher the peer names stays. When it names none, the peer (the UAC here)
    // refreshes if it supports timers; if not, a proxy put the header in, and only we can refresh.
    const peerHasTimers = /(^|,)\s*timer\s*(,|$)/i.test(request.headers.extra.supported ?? '');
    const session = requested && {
      interval: requested.interval,
      refresher: requested.refresher ?? (peerHasTimers ? 'uac' : 'uas'),
    };
    if (session) {
      headers['session-expires'] = `${session.interval};refresher=${session.refresher}`;
      // Section 9 again: Require only towards a UAC that said it supports timers.
      if (peerHasTimers) headers.require = 'timer';
    }
    const contact = [this.contact()];
    let media: NegotiatedMedia | undefined;
    let body: string;
    let offerInAck = false;
    if (request.body.trim()) {
      try {
        const answer = answerReoffer(request.body, this.options.local, ++this.sessionVersion, this.sessionId);
        body = answer.answer;
        media = answer.media;
      } catch (error) {
        this.log.warn('unreadable SDP offer', { error });
        return stack.respond(request, 488, 'Not Acceptable Here');
      }
    } else if (request.method === 'INVITE') {
      // RFC 3264 section 4: an INVITE without SDP wants our offer in the 2xx and answers in the ACK.
      body = buildOffer(this.options.local, ++this.sessionVersion, this.sessionId);
      offerInAck = true;
    } else {
      stack.respond(request, 200, 'OK', { headers, contact });
      return this.refresher.arm(session, 'uas');
    }
    const send = () => stack.respond(request, 200, 'OK', { headers, contact, body });
    send();
    this.localSdp = body;
    this.refresher.arm(session, 'uas');
    if (request.method === 'INVITE') this.retransmitUntilAck(request.headers.cseq.seq, send, offerInAck);
    if (media) {
      this.media = media;
      this.emit('mediaChanged', media);
    }
  }

  /** RFC 3261 section 13.3.1.4: the UAS core, not the transaction, repeats a 2xx on unreliable transports. */
  private retransmitUntilAck(seq: number, send: () => void, offerInAck: boolean): void {
    this.pendingAck?.stop();
    let interval = T1;
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    const tick = () => {
      if (Date.now() - started >= TRANSACTION_TIMEOUT_MS) return;
      send();
      interval = Math.min(interval * 2, T2);
      timer = setTimeout(tick, interval);
    };
    if (this.options.transport === 'udp') timer = setTimeout(tick, interval);
    this.pendingAck = {
      seq,
      offerInAck,
      stop: () => {
        clearTimeout(timer);
        this.pendingAck = undefined;
      },
    };
  }

  private onAck(request: IncomingRequest): void {
    const pending = this.pendingAck;
    if (!pending || request.headers.callId !== this.dialog.callId || request.headers.cseq.seq !== pending.seq) return;
    pending.stop();
    if (pending.offerInAck && request.body.trim()) {
      try {
        this.media = parseAnswer(request.body);
        this.emit('mediaChanged', this.media);
      } catch (error) {
        this.log.warn('unreadable SDP answer in ACK', { error });
      }
    }
  }

  private inDialog(
    method: string,
    extra: Record<string, string>,
    body: string | undefined,
    onFinal: (response: IncomingResponse) => void,
  ): void {
    sendAuthenticated(
      this.stack!,
      this.responder,
      () => this.dialog.nextSeq(),
      (cseq) => this.dialog.request(method, cseq, this.contact(), { ...extra, 'user-agent': USER_AGENT }, body),
      (response) => {
        if (response.status >= 200) onFinal(response);
      },
    );
  }

  private contact(): SipAddress {
    const port = this.stack!.localPort;
    return {
      uri: withTransport(
        `sip:${escapeUser(this.options.from.user)}@${this.options.publicAddress}:${port}`,
        this.options.transport,
      ),
      params: {},
    };
  }

  private schedule(action: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /** Emits the one final event, then unREGISTERs and closes the socket. */
  private finish(final: Final): void {
    if (this.final) return;
    this.final = final;
    this.state = 'done';
    this.clearTimers();
    this.refresher.stop();
    this.pendingAck?.stop();
    if (final.type === 'ended') this.emit('ended', final.body);
    else this.emit('failed', final.body);
    this.closing ??= (async () => {
      try {
        await this.registration?.unregister();
      } catch (error) {
        this.log.warn('unREGISTER failed', { error });
      }
      this.stack?.close();
      this.resolveDone();
    })();
  }
}

/** RFC 3261 section 25.1 `user`: unreserved and user-unreserved characters stay, the rest is %-escaped. */
export function escapeUser(user: string): string {
  return user.replace(/[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g, (char) =>
    [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
