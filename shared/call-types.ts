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

/**
 * What fills the published video track when the peer sends none: big CDNs refuse audio-only ingest.
 * `slate` = a still (colour + the call's title) encoded once and looped; `waveform` = the call's audio drawn
 * live (costs an encoder); `none` = audio-only FLV.
 */
export type VideoMode = 'slate' | 'waveform' | 'none';

/** One more RTMP(S) publishing point for the same call. */
export interface RtmpDestination {
  url: string;
  stream: string;
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
  /**
   * Absent: `slate` when `hasVideo` (the default) and the peer sends no video, `none` when the request said
   * `hasVideo: false` (an audio-only broadcast was asked for).
   */
  video?: VideoMode;
  /** Shown on the slate. */
  title?: string;
  /** Publishing points after the first one (`rtmpUrl`/`rtmpStream`); each fed by one shared encode. */
  destinations?: RtmpDestination[];
  /** A recording of what is broadcast is kept beside the RTMP outputs (fragmented MP4, the same encode). */
  record?: boolean;
  /**
   * The recording's name, made by the control plane (a UUID) when `record` is asked for, never taken from a
   * request: the file (`<id>.mp4`) and the S3 key are built from it, not from the callId the caller chose.
   */
  recordingId?: string;
}

export type CallState = 'dialing' | 'ringing' | 'answered' | 'streaming' | 'ended' | 'failed';

export const FINAL_STATES: readonly CallState[] = ['ended', 'failed'];

export function isFinal(state: CallState): boolean {
  return FINAL_STATES.includes(state);
}

/** Who ended a call that had been answered. `limit` = maxDurationSeconds or RTP inactivity. */
export type EndedBy = 'local' | 'remote' | 'limit';

/**
 * Why a call failed before (or instead of) ending normally:
 * `sip` the peer answered 4xx/5xx/6xx; `auth` digest credentials refused; `timeout` no final answer, or no answer
 * to a request; `rtmp` the RTMP server refused or vanished before streaming; `ffmpeg` the encoder died;
 * `crashed` the task died without a final state; `launch` no media task was started; `internal` a bug.
 * One list, read by the request and event schemas and the OpenAPI document.
 */
export const FAILURE_REASONS = [
  'sip',
  'auth',
  'timeout',
  'rtmp',
  'ffmpeg',
  'crashed',
  'launch',
  'capacity',
  'internal',
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

/** `connecting` (first attempt), `live` (bytes reach the server), `retrying` (dropped or refused; backing off). */
export type DestinationState = 'connecting' | 'live' | 'retrying';

/** One publishing point as the task sees it; the URL is shown without its stream name (often the secret key). */
export interface DestinationStatus {
  url: string;
  state: DestinationState;
  /** Times the connection was (re)started after the first attempt. */
  reconnects: number;
  bytesOut: number;
  /** The last failure ffmpeg printed for it, masked. */
  lastError?: string;
}

export interface CallStats {
  rtpPackets: number;
  rtpLost: number;
  jitterMs: number;
  /**
   * RTP packets dropped because they came from a source other than the peer's (strict RTP,
   * media-task/relay/rtp-relay.c). Absent from tasks that predate it.
   */
  rtpForeignDropped?: number;
  bytesOut: number;
  /** Per destination, in spec order (first = rtmpUrl/rtmpStream). Absent from tasks that predate it. */
  destinations?: DestinationStatus[];
  /**
   * RMS level of the peer's audio since the previous stats event, in dB relative to full scale (a full-scale
   * sine reads about -3). Measured by the RTP relay on the G.711 samples it forwards; absent for other codecs,
   * when no audio arrived in the interval, and from tasks that predate it.
   */
  audioLevelDb?: number;
}

/**
 * What became of a call's recording, told once the file is closed: `saved` in the local recordings folder,
 * `uploaded` to the stack's bucket (`key`), or `failed` (`error` says why; locally, what was written before the
 * failure is still a playable file). Reported after the call's final event: it never changes the call's outcome.
 */
export interface RecordingReport {
  state: 'saved' | 'uploaded' | 'failed';
  bytes: number;
  /** The S3 object key, once uploaded. */
  key?: string;
  error?: string;
}

export type StateEventBody =
  | { type: 'dialing' }
  | { type: 'ringing' }
  | { type: 'answered' }
  | { type: 'streaming' }
  | { type: 'ended'; by: EndedBy; reason: string; sipCode?: number; durationSeconds: number }
  | { type: 'failed'; reason: FailureReason; message: string; sipCode?: number }
  | ({ type: 'stats' } & CallStats)
  | ({ type: 'recording' } & RecordingReport);

/** What a media task reports; `seq` increases by one per event of the call and decides order, not arrival. */
export type StateEvent = StateEventBody & { callId: string; seq: number; at: string };

/** Commands a live task accepts (locally on stdin as JSON lines; on AWS through the call record). */
export type TaskCommand = { type: 'hangup' } | { type: 'dtmf'; digits: string; method?: 'rfc4733' | 'info' };
