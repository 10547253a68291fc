/**
 * Our typed face of the npm package `sip`, the only module that imports it. The package supplies the
 * transports (UDP/TCP/TLS) and RFC 3261 section 17 transactions, including timer A/B/E/F retransmission and the
 * ACK for non-2xx answers; everything above the transaction layer (dialogs, auth, SDP) is ours.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer, isIP } from 'node:net';
import sip, {
  type PackageAddress,
  type PackageConnection,
  type PackageMessage,
  type PackageRemote,
  type PackageTransaction,
  type PackageTransactionLayer,
  type PackageUri,
  type PackageVia,
} from 'sip';
import { isBlockedAddress } from '../../shared/call-spec-schema.ts';
import type { Logger } from '../../shared/log.ts';
import { SipHeaderError, SipTransportError } from './sip-errors.ts';
import type { SipFrame } from './sip-framing.ts';
import { openWireTransport, type Flow, type Remote, type WireProtocol } from './sip-transport.ts';

export type SipTransportName = 'udp' | 'tcp' | 'tls';

export interface SipAddress {
  name?: string;
  uri: string;
  params: Record<string, string | null>;
}

export interface SipHeaders {
  from: SipAddress;
  to: SipAddress;
  callId: string;
  cseq: { seq: number; method: string };
  contact?: SipAddress[];
  route?: SipAddress[];
  recordRoute?: SipAddress[];
  /** Every other header by lower-case name; repeated headers joined with ', '. */
  extra: Record<string, string>;
}

export interface OutgoingRequest {
  method: string;
  uri: string;
  headers: SipHeaders;
  body?: string;
}

export interface IncomingRequest {
  method: string;
  uri: string;
  headers: SipHeaders;
  body: string;
  remote: { address: string; port: number };
}

export interface IncomingResponse {
  status: number;
  reason: string;
  headers: SipHeaders;
  body: string;
  /** WWW-Authenticate and Proxy-Authenticate values, one string per challenge. */
  challenges: { www: string[]; proxy: string[] };
  /** Made up by the transaction layer (timer B/F 408, transport failure 503), not received. */
  local: boolean;
}

export interface ClientTransaction {
  /** RFC 3261 section 9.1 CANCEL for this INVITE; the callback gets the CANCEL's own final answer. */
  cancel(onResponse?: (response: IncomingResponse) => void): void;
}

export interface SipStackOptions {
  transport: SipTransportName;
  bindAddress: string;
  /** 0 or absent: a free port is chosen. */
  bindPort?: number;
  /** Without bindPort: a free port inside this inclusive range, tried at random (other calls' ports are in it too). */
  bindPortRange?: { min: number; max: number };
  publicAddress: string;
  /** TLS only: extra trusted CA (PEM) and the name the server certificate must carry (default: the hop's IP). */
  tls?: { ca?: string; servername?: string };
  logger: Logger;
}

export interface SipStack {
  readonly transport: SipTransportName;
  readonly localPort: number;
  readonly publicAddress: string;
  /** Sends a request in a new client transaction; every response (provisional, final, 2xx retransmission) reaches `onResponse`. */
  request(request: OutgoingRequest, onResponse: (response: IncomingResponse) => void): ClientTransaction;
  /**
   * ACK for a 2xx (RFC 3261 section 13.2.2.4): no transaction; call again for each 2xx retransmission.
   * `onUnsent`: the ACK found no next hop it may go to (unresolvable, or a refused address).
   */
  ack(request: OutgoingRequest, onUnsent?: (error: unknown) => void): void;
  respond(
    request: IncomingRequest,
    status: number,
    reason: string,
    extra?: { headers?: Record<string, string>; contact?: SipAddress[]; body?: string },
  ): void;
  onRequest(handler: (request: IncomingRequest) => void): void;
  close(): void;
}

const MAX_FORWARDS = '70';
const RANGE_BIND_ATTEMPTS = 20;

/** The transport on the first of `ports` that binds; the last error when none does. */
async function firstBound<T>(ports: number[], open: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open(ports[attempt]!);
    } catch (error) {
      if (attempt >= ports.length - 1 || !(error instanceof SipTransportError)) throw error;
    }
  }
}

/** Opens the SIP socket; resolves once it is bound, rejects with SipTransportError when it cannot be. */
export async function openSipStack(options: SipStackOptions): Promise<SipStack> {
  const log = options.logger;
  const protocol = options.transport.toUpperCase() as WireProtocol;
  // Nothing listens for TLS (we hold no certificate); the port only names our end in Via and Contact.
  const range = options.bindPortRange;
  const randomInRange = () => (range ? range.min + Math.floor(Math.random() * (range.max - range.min + 1)) : 0);
  const bindPorts = options.bindPort
    ? [options.bindPort]
    : range
      ? Array.from({ length: protocol === 'TLS' ? 1 : RANGE_BIND_ATTEMPTS }, randomInRange)
      : [protocol === 'TLS' ? await freeTcpPort(options.bindAddress) : 0];
  const packageRequests = new WeakMap<IncomingRequest, PackageMessage>();
  let handler: (request: IncomingRequest) => void = () => {};
  let closed = false;

  // The package's own `create()` routes by DNS SRV and treats any URI whose host equals our public address as
  // its own flow token (so 127.0.0.1 could never call 127.0.0.1), and its transports choke on hostile input (see
  // sip-framing.ts): we use its parser and transaction layer only, over our own sockets and routing.
  let transactions: PackageTransactionLayer;
  const onMessage = (message: PackageMessage, remote: PackageRemote) => {
    if (closed) return;
    try {
      log.debug('sip received', {
        line: firstLine(message),
        callId: message.headers['call-id'],
        from: `${remote.address}:${remote.port}`,
      });
      const existing = message.method ? transactions.getServer(message) : transactions.getClient(message);
      if (existing) {
        existing.message?.(message, remote);
        return;
      }
      if (!message.method) return;
      if (message.method !== 'ACK')
        transactions.createServerTransaction(message, connectionOn(wire.get(remote as Remote)));
      const request = toIncomingRequest(message, remote);
      packageRequests.set(request, message);
      handler(request);
    } catch (error) {
      log.warn('dropped an incoming SIP message', { error });
    }
  };
  const wire = await firstBound(bindPorts, (port) =>
    openWireTransport({
      protocol,
      address: options.bindAddress,
      port,
      // Node verifies the server certificate by default; `servername` also sets SNI since we dial resolved IPs.
      tls: protocol === 'TLS' ? { minVersion: 'TLSv1.2', ...options.tls } : undefined,
      onFrame: (frame, remote) => {
        const message = decodeFrame(frame, remote);
        if (message) onMessage(message, remote);
        else log.debug('dropped an unreadable SIP message', { from: `${remote.address}:${remote.port}` });
      },
      onDropped: (reason, remote, error) =>
        log.debug(reason, { from: remote && `${remote.address}:${remote.port}`, error }),
    }),
  );
  const port = wire.port;

  /** The package's connection shape over one of our flows; requests get our Via sent-by (RFC 3261 section 18.1.1). */
  function connectionOn(flow: Flow | undefined): PackageConnection {
    if (!flow) throw new SipTransportError('no connection to answer on');
    return {
      protocol: flow.protocol,
      send(message) {
        const via = (message.headers.via as PackageVia[] | undefined)?.[0];
        if (message.method && via) {
          via.host = options.publicAddress;
          via.port = port;
          via.protocol = flow.protocol;
          if (flow.protocol === 'UDP') via.params.rport = null;
        }
        log.debug('sip sent', { line: firstLine(message), callId: message.headers['call-id'] });
        flow.send(sip.stringify(message));
      },
      release: () => flow.release(),
    };
  }
  const open = (remote: PackageRemote, onError?: (error: unknown) => void) =>
    connectionOn(wire.open(remote as Remote, onError));
  transactions = sip.makeTransactionLayer({}, open);

  /** RFC 3261 section 8.1.2: the first Route entry if there is one (loose routing), else the Request-URI. */
  const nextHop = async (message: PackageMessage): Promise<PackageRemote> => {
    const route = message.headers.route as PackageAddress[] | undefined;
    const uri = sip.parseUri(route?.[0]?.uri ?? message.uri ?? '');
    if (!uri) throw new SipTransportError(`cannot route to ${JSON.stringify(route?.[0]?.uri ?? message.uri)}`);
    const address = isIP(uri.host) ? uri.host : (await lookup(uri.host, { family: 4 })).address;
    // The API checked the domain's name once; this is the address the request really goes to, and a Route the
    // peer set is covered too.
    if (isBlockedAddress(address)) {
      throw new SipTransportError(
        `${uri.host === address ? address : `${uri.host} resolves to ${address}, which`} is a link-local or cloud metadata address`,
      );
    }
    return { protocol, address, port: uri.port || (protocol === 'TLS' ? 5061 : 5060) };
  };

  const send = (
    message: PackageMessage,
    onResponse?: (response: PackageMessage) => void,
    onAckUnsent?: (error: unknown) => void,
  ) => {
    if (closed) return;
    if (!message.method) {
      transactions.getServer(message)?.send?.(message);
      return;
    }
    const fail = (error: unknown) => {
      log.warn('SIP request not sent', { method: message.method, error });
      // Our own refusals say why in the local answer's reason phrase; it never goes on the wire.
      if (message.method === 'ACK') onAckUnsent?.(error);
      else onResponse?.(sip.makeResponse(message, 503, error instanceof SipTransportError ? error.message : ''));
    };
    if (message.method !== 'CANCEL') (message.headers.via as PackageVia[]).unshift({ params: {} });
    nextHop(message)
      .then((hop) => {
        if (closed) return;
        if (message.method === 'ACK') {
          (message.headers.via as PackageVia[])[0]!.params.branch = sip.generateBranch();
          const connection = open(hop, (error) => log.warn('SIP connection error', { error }));
          try {
            connection.send(message);
          } finally {
            connection.release();
          }
          return;
        }
        let transaction: PackageTransaction | undefined;
        const connection = open(hop, (error) => {
          log.warn('SIP connection error', { error });
          transaction?.message?.(sip.makeResponse(message, 503, ''));
        });
        transaction = transactions.createClientTransaction(connection, message, (response) => onResponse?.(response));
      }, fail)
      .catch(fail);
  };

  /** Responses also arrive from the package's timers and socket events, where nothing would catch a throw. */
  const deliver = (action: () => void) => {
    if (closed) return;
    try {
      action();
    } catch (error) {
      log.error('handling a SIP response failed', { error });
    }
  };

  return {
    transport: options.transport,
    localPort: port,
    publicAddress: options.publicAddress,
    request(request, onResponse) {
      const message = toPackageRequest(request);
      send(message, (response) => deliver(() => onResponse(toIncomingResponse(response, message.headers.via))));
      return {
        cancel(onCancelResponse) {
          const via = (message.headers.via as PackageVia[] | undefined)?.[0];
          if (!via) return;
          const cancel: PackageMessage = {
            method: 'CANCEL',
            uri: message.uri,
            headers: {
              via: [{ ...via, params: { ...via.params } }],
              to: message.headers.to,
              from: message.headers.from,
              'call-id': message.headers['call-id'],
              cseq: { seq: (message.headers.cseq as { seq: number }).seq, method: 'CANCEL' },
              route: message.headers.route,
              'max-forwards': MAX_FORWARDS,
            },
          };
          send(cancel, (response) =>
            deliver(() => onCancelResponse?.(toIncomingResponse(response, cancel.headers.via))),
          );
        },
      };
    },
    ack(request, onUnsent) {
      send(toPackageRequest(request), undefined, onUnsent);
    },
    respond(request, status, reason, extra = {}) {
      const original = packageRequests.get(request);
      if (!original) throw new SipTransportError('respond() needs a request received by this stack');
      const headers: Record<string, unknown> = { ...extra.headers };
      if (extra.contact) headers.contact = extra.contact.map(toPackageAddress);
      if (extra.body) headers['content-type'] ??= 'application/sdp';
      assertSafe(headers);
      const response = sip.makeResponse(original, status, reason, { headers, content: extra.body });
      const to = response.headers.to as PackageAddress;
      // RFC 3261 section 8.2.6.2: a final answer outside a dialog needs a To tag of our own.
      if (status >= 200 && !to.params.tag)
        response.headers.to = { ...to, params: { ...to.params, tag: randomToken() } };
      send(response);
    },
    onRequest(next) {
      handler = next;
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        transactions.destroy();
        wire.close();
      } catch (error) {
        log.warn('closing the SIP stack failed', { error });
      }
    },
  };
}

/** Call-IDs and tags: RFC 3261 sections 8.1.1.4 and 19.3 want them unguessable and globally unique. */
export function randomToken(): string {
  return randomBytes(12).toString('base64url');
}

/** RFC 3261 section 25.1 forbids bare CR/LF in header values; any would let a value start a header of its own. */
export function assertSafe(value: unknown, path = 'header'): void {
  if (typeof value === 'string') {
    if (/[\r\n\0]/.test(value)) throw new SipHeaderError(`${path} contains CR, LF or NUL`, path);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => assertSafe(item, `${path}[${index}]`));
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) assertSafe(item, `${path}.${key}`);
  }
}

/**
 * Header names the package would capitalize wrongly (`min-se` → `Min-Se`). Names are case-insensitive (RFC 3261
 * section 7.3.1), but some peers (sipp among them) match them as their RFC spells them.
 */
const SPELLED_OUT: Record<string, string> = { 'min-se': 'Min-SE' };

function toPackageRequest(request: OutgoingRequest): PackageMessage {
  const { headers } = request;
  const packageHeaders: Record<string, unknown> = {
    via: [],
    'max-forwards': MAX_FORWARDS,
    to: toPackageAddress(headers.to),
    from: toPackageAddress(headers.from),
    'call-id': headers.callId,
    cseq: { ...headers.cseq },
  };
  if (headers.route?.length) packageHeaders.route = headers.route.map(toPackageAddress);
  if (headers.contact) packageHeaders.contact = headers.contact.map(toPackageAddress);
  for (const [name, value] of Object.entries(headers.extra)) {
    const lower = name.toLowerCase();
    packageHeaders[SPELLED_OUT[lower] ?? lower] = value;
  }
  assertSafe(packageHeaders);
  assertSafe(request.uri, 'Request-URI');
  assertSafe(request.method, 'method');
  if (/\s/.test(request.uri)) throw new SipHeaderError('Request-URI contains whitespace', 'Request-URI');
  // The package resolves the next hop from a parsed URI; a route's URI stays a string it parses itself.
  return { method: request.method, uri: request.uri, headers: packageHeaders, content: request.body ?? '' };
}

function toPackageAddress(address: SipAddress): PackageAddress {
  return { name: address.name, uri: address.uri, params: { ...address.params } };
}

function fromPackageAddress(value: unknown): SipAddress {
  const address = (value ?? { uri: '', params: {} }) as PackageAddress;
  const params: Record<string, string | null> = {};
  for (const [key, item] of Object.entries(address.params ?? {}))
    params[key] = item === null || item === undefined ? null : String(item);
  // A Route/Record-Route URI the package could not parse comes back undefined: keep it as an empty URI.
  return { name: address.name, uri: address.uri ? sip.stringifyUri(address.uri as string | PackageUri) : '', params };
}

const STRUCTURED = new Set([
  'via',
  'to',
  'from',
  'call-id',
  'cseq',
  'contact',
  'route',
  'record-route',
  'content-length',
  'www-authenticate',
  'proxy-authenticate',
  'authorization',
  'proxy-authorization',
]);

function fromPackageHeaders(headers: Record<string, unknown>): SipHeaders {
  const extra: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!STRUCTURED.has(name) && value !== undefined)
      extra[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  const list = (value: unknown) => (Array.isArray(value) ? value.map(fromPackageAddress) : undefined);
  const cseq = (headers.cseq ?? { seq: 0, method: '' }) as { seq: number; method: string };
  return {
    from: fromPackageAddress(headers.from),
    to: fromPackageAddress(headers.to),
    callId: String(headers['call-id'] ?? ''),
    cseq: { seq: Number(cseq.seq), method: String(cseq.method) },
    contact: list(headers.contact),
    route: list(headers.route),
    recordRoute: list(headers['record-route']),
    extra,
  };
}

function authValues(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((item) => sip.stringifyAuthHeader(item as Record<string, string>));
}

/** RFC 3261 section 8.1.1.5: a CSeq number is below 2**31. */
const MAX_CSEQ = 2 ** 31 - 1;

/**
 * One framed message through the package's parser, or undefined when it lacks what RFC 3261 section 8.1.1 makes
 * mandatory (Via, Call-ID, To, From, CSeq), has a status outside 100-699 or a CSeq that is not a 31-bit number.
 */
function decodeFrame(
  frame: SipFrame,
  remote: Pick<Remote, 'protocol' | 'address' | 'port'>,
): PackageMessage | undefined {
  let message: PackageMessage | undefined;
  try {
    message = sip.parse(frame.head + '\r\n\r\n');
  } catch {
    return undefined;
  }
  if (!message) return undefined;
  const { headers } = message;
  const via = headers.via as PackageVia[] | undefined;
  const cseq = headers.cseq as { seq?: unknown; method?: unknown } | undefined;
  const wellFormed =
    (message.method
      ? typeof message.uri === 'string'
      : Number.isInteger(message.status) && message.status! >= 100 && message.status! <= 699) &&
    Array.isArray(via) &&
    via.length > 0 &&
    typeof via[0]?.params === 'object' &&
    typeof headers['call-id'] === 'string' &&
    headers['call-id'] !== '' &&
    isAddress(headers.to) &&
    isAddress(headers.from) &&
    Number.isInteger(cseq?.seq) &&
    (cseq!.seq as number) <= MAX_CSEQ &&
    typeof cseq?.method === 'string';
  if (!wellFormed) return undefined;
  message.content = frame.body;
  if (message.method) {
    // RFC 3261 section 18.2.1 (and RFC 3581 for rport): where the request really came from.
    via![0]!.params.received = remote.address;
    if (remote.protocol === 'UDP' && Object.hasOwn(via![0]!.params, 'rport')) via![0]!.params.rport = remote.port;
  }
  return message;
}

function isAddress(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as PackageAddress).params === 'object';
}

/** The parse path of incoming messages, in our own types: for tests that feed it hostile input. */
export function parseSipFrame(frame: SipFrame): IncomingRequest | IncomingResponse | undefined {
  const message = decodeFrame(frame, { protocol: 'UDP', address: '192.0.2.1', port: 5060 });
  if (!message) return undefined;
  return message.method
    ? toIncomingRequest(message, { address: '192.0.2.1', port: 5060 })
    : toIncomingResponse(message, undefined);
}

function toIncomingRequest(message: PackageMessage, remote: { address: string; port: number }): IncomingRequest {
  return {
    method: message.method!,
    uri: sip.stringifyUri(message.uri ?? ''),
    headers: fromPackageHeaders(message.headers),
    body: message.content ?? '',
    remote: { address: remote.address, port: remote.port },
  };
}

function toIncomingResponse(message: PackageMessage, sentVia: unknown): IncomingResponse {
  return {
    status: message.status ?? 0,
    reason: message.reason ?? '',
    headers: fromPackageHeaders(message.headers),
    body: message.content ?? '',
    challenges: {
      www: authValues(message.headers['www-authenticate']),
      proxy: authValues(message.headers['proxy-authenticate']),
    },
    // Timeouts (timer B/F) and transport failures come back as made-up responses sharing our request's Via array.
    local: sentVia !== undefined && message.headers.via === sentVia,
  };
}

function firstLine(message: PackageMessage): string {
  return message.method
    ? `${message.method} ${sip.stringifyUri(message.uri ?? '')}`
    : `${message.status} ${message.reason ?? ''}`;
}

function freeTcpPort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => reject(new SipTransportError(`no free TCP port on ${address}`, { cause: error })));
    server.listen(0, address, () => {
      const bound = server.address();
      server.close(() =>
        bound && typeof bound === 'object' ? resolve(bound.port) : reject(new SipTransportError('no address')),
      );
    });
  });
}
