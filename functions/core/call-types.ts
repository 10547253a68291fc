/**
 * Types shared by the control plane and the media task: the call spec one task runs, the state events it
 * reports, and the commands it accepts while live. Types only: both deployables import this file.
 */

export type SipTransport = 'udp' | 'tcp' | 'tls';

/** SIP account details, named as in Web Call Server's `connection` object; normalized (ports as numbers, booleans as booleans). */
export interface SipConnection {
  sipLogin: string;
  sipPassword: string;
  sipAuthenticationName: string;
  sipDomain: string;
  sipPort: number;
  sipRegisterRequired: boolean;
  transport: SipTransport;
  appKey?: string;
}

/** One validated call, as one media task runs it. */
export interface CallSpec {
  callId: string;
  /** User part (or full host, as with a Twilio SIP domain) of the Request-URI: `sip:<callee>@<sipDomain>:<sipPort>`. */
  callee: string;
  rtmpUrl: string;
  rtmpStream: string;
  /** true → the SDP offers sendrecv (and we send comfort silence); false → recvonly. */
  hasAudio: boolean;
  hasVideo: boolean;
  /** Sent after answer; `,` or `w` = 500 ms pause. */
  dtmf?: string;
  maxDurationSeconds: number;
  rtpTimeoutSeconds: number;
  connection: SipConnection;
}

export type CallState = 'dialing' | 'ringing' | 'answered' | 'streaming' | 'ended' | 'failed';

export const FINAL_STATES: readonly CallState[] = ['ended', 'failed'];

/** Who ended a call that had been answered. `limit` = maxDurationSeconds or RTP inactivity. */
export type EndedBy = 'local' | 'remote' | 'limit';

/** Why a call failed before (or instead of) ending normally. */
export type FailureReason =
  | 'sip' // the peer answered 4xx/5xx/6xx
  | 'auth' // digest credentials refused
  | 'timeout' // no final answer, or no answer to a request
  | 'rtmp' // the RTMP server refused or vanished before streaming
  | 'ffmpeg' // the encoder died
  | 'crashed' // the task died without a final state
  | 'internal';

export interface CallStats {
  rtpPackets: number;
  rtpLost: number;
  jitterMs: number;
  bytesOut: number;
}

export type StateEventBody =
  | { type: 'dialing' }
  | { type: 'ringing' }
  | { type: 'answered' }
  | { type: 'streaming' }
  | { type: 'ended'; by: EndedBy; reason: string; sipCode?: number; durationSeconds: number }
  | { type: 'failed'; reason: FailureReason; message: string; sipCode?: number }
  | ({ type: 'stats' } & CallStats);

/** What a media task reports; `seq` increases by one per event of the call and decides order, not arrival. */
export type StateEvent = StateEventBody & { callId: string; seq: number; at: string };

/** Commands a live task accepts (locally on stdin as JSON lines; on AWS through the call record). */
export type TaskCommand = { type: 'hangup' } | { type: 'dtmf'; digits: string; method?: 'rfc4733' | 'info' };
