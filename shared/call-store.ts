/**
 * The call record and the store that keeps it, as both deployables see them: the control plane writes calls, the
 * media task on AWS reads its own (spec, secret, hang-up). The control plane's other ports are in
 * functions/core/ports.ts.
 */
import type {
  CallSpec,
  CallState,
  CallStats,
  EndedBy,
  FailureReason,
  RecordingReport,
  SipConnection,
  StateEvent,
} from './call-types.ts';

/** The spec as stored and returned: everything but the SIP password, which lives apart in `CallSecret`. */
export type PublicCallSpec = Omit<CallSpec, 'connection'> & { connection: Omit<SipConnection, 'sipPassword'> };

/** Stored next to the record but never part of it, so no serializer of `CallRecord` can leak it. */
export interface CallSecret {
  sipPassword: string;
}

/** What the control plane wants for the call; `ended` once a hangup was requested (it may still be live). */
export type DesiredState = 'live' | 'ended';

export interface CallRecord {
  callId: string;
  spec: PublicCallSpec;
  /** Normalized rtmpUrl + stream name; at most one live call per key. */
  streamKey: string;
  state: CallState;
  desired: DesiredState;
  /** Highest `seq` of an applied state event (0 before the task reported anything). */
  lastSeq: number;
  /** Highest `seq` of an applied stats event, kept apart so stats never shadow a late state event. */
  statsSeq: number;
  /** Bumped by the store on every write; the condition of optimistic updates. */
  version: number;
  createdAt: string;
  updatedAt: string;
  /** When each state was entered (event time, not arrival time). */
  stateTimes: Partial<Record<CallState, string>>;
  ended?: { by: EndedBy; reason: string; sipCode?: number; durationSeconds: number };
  failure?: { reason: FailureReason; message: string; sipCode?: number };
  stats?: CallStats & { at: string };
  /** The latest stats as rates, oldest first, capped (functions/core/stats-history.ts) so the item stays small. */
  statsHistory?: StatsSample[];
  /** What became of the recording (`spec.record`), as the task reported it after the call; `seq` is that event's. */
  recording?: RecordingReport & { at: string; seq: number };
  /** The launcher's handle for the running task (ECS task ARN, local pid...). */
  taskRef?: string;
  /**
   * The name of the API key that started the call (functions/core/api-keys.ts), or `webhook:<route>` for a
   * webhook's; absent when no key was configured (local mode without keys) and for calls from before keys.
   */
  keyName?: string;
  /** Where state changes are POSTed (functions/webhooks/status-notifier.ts); control plane only, the task never sees it. */
  statusCallback?: StatusCallbackTarget;
  /** The latest status-callback delivery attempts, oldest first, capped so the item stays small. */
  deliveries?: DeliveryLogEntry[];
}

/** One stats event as rates over the time since the one before it: what a sparkline draws. */
export interface StatsSample {
  at: string;
  /** Bytes sent to the RTMP servers, all destinations together, in kbit/s. */
  bitrateKbps: number;
  /** RTP packets lost of those expected from the peer, in percent. */
  lossPercent: number;
  audioLevelDb?: number;
}

export interface StatusCallbackTarget {
  url: string;
  /** States to report; absent → every state. */
  events?: CallState[];
}

/** One attempt to POST one state change to `statusCallback`. */
export interface DeliveryLogEntry {
  /** The state the delivery reports. */
  state: CallState;
  /** The record version the change produced: increases with every change of the call. */
  sequence: number;
  attempt: number;
  at: string;
  /** `retrying`: this attempt failed and another follows; `failed`: no more attempts. */
  outcome: 'delivered' | 'retrying' | 'failed';
  httpStatus?: number;
  error?: string;
}

export interface CallListFilter {
  /** true → only non-final calls. */
  live?: boolean;
  state?: CallState;
}

export interface CreateOptions {
  /** At most this many live calls with the record's `keyName`, this one included; absent → no limit. */
  keyLimit?: number;
}

/**
 * Persistence of call records. Implementations expire final records after a retention period (TTL), keep at most
 * one live call per `streamKey`, and at most `keyLimit` live calls per `keyName` when the create asks for it.
 */
export interface CallStore {
  /**
   * Stores a new record (version 1) unless the callId exists: then returns the existing record untouched, even
   * when its key is at its limit now.
   * @throws StreamKeyInUseError when another live call holds `record.streamKey`.
   * @throws ConcurrencyLimitError when `options.keyLimit` live calls of `record.keyName` exist already.
   */
  create(record: CallRecord, secret: CallSecret, options?: CreateOptions): Promise<'created' | CallRecord>;
  get(callId: string): Promise<CallRecord | undefined>;
  /** For the launcher and idempotency checks only; API answers never read it. */
  getSecret(callId: string): Promise<CallSecret | undefined>;
  list(filter?: CallListFilter): Promise<CallRecord[]>;
  /**
   * Replaces the record if its stored version is still `expectedVersion`; returns it with the new version.
   * @throws ConcurrentUpdateError when someone else wrote first.
   * @throws CallNotFoundError when the record is gone.
   */
  update(next: CallRecord, expectedVersion: number): Promise<CallRecord>;
}

/** Where media tasks' state events go (stdout → recorder locally, EventBridge on AWS). */
export interface EventSink {
  publish(event: StateEvent): Promise<void>;
}
