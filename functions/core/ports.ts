/**
 * The interfaces the control-plane core needs from the outside world. Adapters implement them, one per backend
 * (functions/adapters/*); the core never imports an SDK.
 */
import type { ObservedTask } from './call-sweep.ts';
import type { CallSpec, CallState, CallStats, EndedBy, FailureReason, SipConnection, StateEvent, TaskCommand } from './call-types.ts';

/**
 * The addresses a host name resolves to, as the platform's resolver answers; none when it gives no answer in
 * time (the task's network may still know the name).
 */
export type HostResolver = (host: string) => Promise<readonly string[]>;

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
  /** The launcher's handle for the running task (ECS task ARN, local pid...). */
  taskRef?: string;
  /** Where state changes are POSTed (functions/webhooks/status-notifier.ts); control plane only, the task never sees it. */
  statusCallback?: StatusCallbackTarget;
  /** The latest status-callback delivery attempts, oldest first, capped so the item stays small. */
  deliveries?: DeliveryLogEntry[];
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

/**
 * Persistence of call records. Implementations expire final records after a retention period (TTL) and keep
 * at most one live call per `streamKey`.
 */
export interface CallStore {
  /**
   * Stores a new record (version 1) unless the callId exists: then returns the existing record untouched.
   * @throws StreamKeyInUseError when another live call holds `record.streamKey`.
   */
  create(record: CallRecord, secret: CallSecret): Promise<'created' | CallRecord>;
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

/** Starts and controls media tasks, one per call. */
export interface TaskLauncher {
  /** @throws LaunchError when no task could be started. */
  launch(spec: CallSpec): Promise<{ taskRef: string }>;
  /** Ends the call (BYE) and the task; kills it if it does not exit. Safe to call for a task that is gone. */
  stop(callId: string, taskRef?: string): Promise<void>;
  sendCommand(callId: string, command: TaskCommand, taskRef?: string): Promise<void>;
}

/**
 * Tells what became of tasks (functions/core/call-sweep.ts decides what to do about it): ECS DescribeTasks on
 * AWS, the server's own children locally. A lookup that fails answers `unknown` for its tasks, never throws.
 */
export interface TaskInspector {
  inspect(taskRefs: readonly string[]): Promise<Map<string, ObservedTask>>;
}

/** Where media tasks' state events go (stdout → recorder locally, EventBridge on AWS). */
export interface EventSink {
  publish(event: StateEvent): Promise<void>;
}

/** The logging the control plane needs; media-task/log.ts's `Logger` fits it. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}
