/**
 * A UDP "peer" on 127.0.0.1 that plays UAS badly on purpose: for each INVITE it follows a plan (drawn by the
 * test from a seeded PRNG) of mutated provisional and final responses, then mutated in-dialog requests, then
 * maybe a BYE of its own. It answers our BYE, CANCEL and in-dialog requests' answers correctly, so every call
 * can end; everything else it sends may be garbage. Deliberately naive: no transactions, no retransmissions.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface PlannedMessage {
  /** `{{field}}` placeholders are filled from the INVITE (or the dialog) first. */
  template: string;
  /** Whether the plan's `damage` is applied to the filled message. */
  damaged: boolean;
}

export interface CallPlan {
  /** Sent in answer to the INVITE, in order. */
  responses: PlannedMessage[];
  /** Sent to our Contact once our ACK arrives. */
  inDialog: PlannedMessage[];
  /** Send a valid BYE after the in-dialog requests. */
  byeAfter: boolean;
  damage(text: string): string;
}

interface CallState {
  invite: Record<string, string>;
  contact: { address: string; port: number };
  plan: CallPlan;
  acked: boolean;
  seq: number;
}

const header = (message: string, name: string) =>
  new RegExp(`^${name}\\s*:\\s*(.*)$`, 'im').exec(message)?.[1]?.trim() ?? '';

export class HostileUas {
  private readonly calls = new Map<string, CallState>();
  /** Start lines of what we received, for assertions and failure messages. */
  readonly received: string[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    private readonly planFor: (from: string) => CallPlan,
  ) {
    socket.on('message', (data, info) => this.onMessage(data.toString('latin1'), info.address, info.port));
  }

  /** `planFor` gets the INVITE's From header, so a test can tell its calls apart (the Call-ID is random). */
  static start(planFor: (from: string) => CallPlan): Promise<HostileUas> {
    return new Promise((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.removeListener('error', reject);
        socket.on('error', () => {});
        resolve(new HostileUas(socket, socket.address().port, planFor));
      });
    });
  }

  private onMessage(text: string, address: string, port: number): void {
    const startLine = text.slice(0, text.indexOf('\r\n'));
    this.received.push(startLine);
    if (startLine.startsWith('SIP/')) return;
    const method = startLine.split(' ')[0]!;
    const callId = header(text, 'Call-ID');
    const fields = {
      via: header(text, 'Via'),
      from: header(text, 'From'),
      to: header(text, 'To'),
      callId,
      cseq: header(text, 'CSeq'),
      ourTag: 'uas-' + callId.slice(0, 8).replace(/\W/g, 'x'),
      myPort: String(this.port),
    };
    const known = this.calls.get(callId);
    if (method === 'INVITE' && !known) {
      const contactUri = /<([^>]+)>/.exec(header(text, 'Contact'))?.[1] ?? '';
      const hostPort = /@([^;>:]+):(\d+)/.exec(contactUri);
      const state: CallState = {
        invite: fields,
        contact: { address: hostPort?.[1] ?? address, port: Number(hostPort?.[2] ?? port) },
        plan: this.planFor(fields.from),
        acked: false,
        seq: 100,
      };
      this.calls.set(callId, state);
      for (const response of state.plan.responses) this.send(render(response, fields, state.plan), address, port);
      return;
    }
    if (!known) return;
    if (method === 'ACK' && !known.acked) {
      known.acked = true;
      const dialog = { ...known.invite, remoteContact: `sip:gw@${known.contact.address}:${known.contact.port}` };
      for (const request of known.plan.inDialog) {
        this.send(
          render(request, { ...dialog, cseqNumber: String(++known.seq), branch: branch() }, known.plan),
          known.contact.address,
          known.contact.port,
        );
      }
      if (known.plan.byeAfter)
        this.send(
          fill(IN_DIALOG.BYE, { ...dialog, cseqNumber: String(++known.seq), branch: branch() }),
          known.contact.address,
          known.contact.port,
        );
      return;
    }
    if (method === 'BYE' || method === 'CANCEL' || method === 'INFO' || method === 'OPTIONS') {
      this.send(fill(RESPONSE('200 OK'), { ...fields, ourTag: known.invite.ourTag! }), address, port);
      if (method === 'CANCEL') this.send(fill(RESPONSE('487 Request Terminated'), { ...known.invite }), address, port);
    }
  }

  private send(text: string, address: string, port: number): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function render(message: PlannedMessage, fields: Record<string, string>, plan: CallPlan): string {
  const text = fill(message.template, fields);
  return message.damaged ? plan.damage(text) : text;
}

function fill(template: string, fields: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => fields[name] ?? '');
}

function branch(): string {
  return 'z9hG4bK' + Math.random().toString(36).slice(2);
}

const withBody = (lines: string[], body = '') => [...lines, `Content-Length: ${body.length}`, '', body].join('\r\n');

/** A response to the request whose fields fill the template; `{{ourTag}}` goes on To unless it already has one. */
export const RESPONSE = (status: string, extra: string[] = [], body = '') =>
  withBody(
    [
      'SIP/2.0 ' + status,
      'Via: {{via}}',
      'From: {{from}}',
      'To: {{to}};tag={{ourTag}}',
      'Call-ID: {{callId}}',
      'CSeq: {{cseq}}',
      ...extra,
    ],
    body,
  );

export const ANSWER_SDP = [
  'v=0',
  'o=uas 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

export const OK_WITH_SDP = (sdp = ANSWER_SDP) =>
  RESPONSE('200 OK', ['Contact: <sip:uas@127.0.0.1:{{myPort}}>', 'Content-Type: application/sdp'], sdp);

const request = (method: string, extra: string[] = [], body = '') =>
  withBody(
    [
      `${method} {{remoteContact}} SIP/2.0`,
      'Via: SIP/2.0/UDP 127.0.0.1:{{myPort}};branch={{branch}}',
      'From: {{to}};tag={{ourTag}}',
      'To: {{from}}',
      'Call-ID: {{callId}}',
      `CSeq: {{cseqNumber}} ${method}`,
      'Contact: <sip:uas@127.0.0.1:{{myPort}}>',
      ...extra,
    ],
    body,
  );

/** Requests a peer sends inside the dialog; the test mutates them. */
export const IN_DIALOG = {
  BYE: request('BYE'),
  INVITE: request(
    'INVITE',
    ['Content-Type: application/sdp', 'Session-Expires: 90'],
    ANSWER_SDP.replace('m=audio 6000', 'm=audio 6002') + 'a=sendonly\r\n',
  ),
  INVITE_NO_SDP: request('INVITE'),
  UPDATE: request('UPDATE', ['Content-Type: application/sdp'], ANSWER_SDP),
  INFO: request('INFO', ['Content-Type: application/dtmf-relay'], 'Signal=5\r\nDuration=160\r\n'),
  OPTIONS: request('OPTIONS'),
  MESSAGE: request('MESSAGE', ['Content-Type: text/plain'], 'hello'),
};
