/**
 * The UAC side of one dialog (RFC 3261 section 12): identifiers, CSeq counters, remote target and route set, and
 * the requests built from them. No I/O: sip-call.ts sends what this builds.
 */
import type { IncomingRequest, IncomingResponse, OutgoingRequest, SipAddress, SipTransportName } from './sip-stack.ts';

export interface DialogOptions {
  callId: string;
  localTag: string;
  /** Our From URI, sip:user@domain. */
  localUri: string;
  /** The Request-URI of the INVITE (the To URI drops its transport parameter). */
  requestUri: string;
  /** A preloaded route (outbound proxy), used until the peer's 2xx gives the dialog its own route set. */
  outboundRoute?: SipAddress[];
}

export class Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly requestUri: string;
  private readonly localUri: string;
  private readonly outboundRoute: SipAddress[];
  private localSeq = 0;
  private remoteSeq: number | undefined;
  private remote: SipAddress;
  private remoteTarget = '';
  private routeSet: SipAddress[] = [];
  private confirmed = false;

  constructor(options: DialogOptions) {
    this.callId = options.callId;
    this.localTag = options.localTag;
    this.localUri = options.localUri;
    this.requestUri = options.requestUri;
    this.outboundRoute = options.outboundRoute ?? [];
    this.remote = { uri: options.requestUri.replace(/;transport=\w+$/i, ''), params: {} };
  }

  get established(): boolean {
    return this.confirmed;
  }

  nextSeq(): number {
    return ++this.localSeq;
  }

  /** The INVITE (out of dialog: To without tag, Route = outbound proxy). */
  invite(seq: number, contact: SipAddress, extra: Record<string, string>, body: string): OutgoingRequest {
    return {
      method: 'INVITE',
      uri: this.requestUri,
      headers: {
        from: this.from(),
        to: this.remote,
        callId: this.callId,
        cseq: { seq, method: 'INVITE' },
        contact: [contact],
        route: this.outboundRoute,
        extra,
      },
      body,
    };
  }

  /** RFC 3261 section 12.1.2: remote tag from To, remote target from Contact, route set = Record-Route reversed. */
  establish(response: IncomingResponse): void {
    this.remote = response.headers.to;
    this.remoteTarget = response.headers.contact?.[0]?.uri ?? this.requestUri;
    this.routeSet = [...(response.headers.recordRoute ?? [])].reverse();
    this.confirmed = true;
  }

  /** A further 2xx to our INVITE from the same peer (a retransmission, to be ACKed again). */
  isSameRemote(response: IncomingResponse): boolean {
    return response.headers.to.params.tag === this.remote.params.tag;
  }

  /** RFC 3261 section 12.2.1.1: a request inside the dialog. */
  request(
    method: string,
    seq: number,
    contact: SipAddress | undefined,
    extra: Record<string, string>,
    body?: string,
  ): OutgoingRequest {
    return {
      method,
      uri: this.remoteTarget || this.requestUri,
      headers: {
        from: this.from(),
        to: this.remote,
        callId: this.callId,
        cseq: { seq, method },
        contact: contact ? [contact] : undefined,
        route: this.confirmed ? this.routeSet : this.outboundRoute,
        extra,
      },
      body,
    };
  }

  /** RFC 3261 section 12.2.2: Call-ID, our tag in To and the peer's tag in From. */
  matches(request: IncomingRequest): boolean {
    return (
      this.confirmed &&
      request.headers.callId === this.callId &&
      request.headers.to.params.tag === this.localTag &&
      request.headers.from.params.tag === this.remote.params.tag
    );
  }

  /** false for a CSeq lower than the last one seen (answer 500, RFC 3261 section 12.2.2). */
  acceptRemoteSeq(seq: number): boolean {
    if (this.remoteSeq !== undefined && seq < this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }

  /** A target refresh (re-INVITE/UPDATE) may move the peer's Contact (RFC 3261 section 12.2.2). */
  refreshTarget(request: IncomingRequest): void {
    const contact = request.headers.contact?.[0]?.uri;
    if (contact) this.remoteTarget = contact;
  }

  private from(): SipAddress {
    return { uri: this.localUri, params: { tag: this.localTag } };
  }
}

/** Adds `;transport=` for TCP/TLS so the peer routes its requests and answers back over the same transport. */
export function withTransport(uri: string, transport: SipTransportName): string {
  if (transport === 'udp' || /;transport=/i.test(uri)) return uri;
  return `${uri};transport=${transport}`;
}
