/**
 * The interfaces the control-plane core needs from the outside world. Adapters implement them, one per backend
 * (functions/adapters/*); the core never imports an SDK. The call store's, shared with the media task, are in
 * shared/call-store.ts and exported from here too.
 */
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';
import type { CallRecord } from '../../shared/call-store.ts';
import type { ObservedTask } from './call-sweep.ts';

export type {
  CallListFilter,
  CallRecord,
  CallSecret,
  CallStore,
  CreateOptions,
  DeliveryLogEntry,
  DesiredState,
  EventSink,
  PublicCallSpec,
  StatsSample,
  StatusCallbackTarget,
} from '../../shared/call-store.ts';

/**
 * The addresses a host name resolves to, as the platform's resolver answers; none when it gives no answer in
 * time (the task's network may still know the name).
 */
export type HostResolver = (host: string) => Promise<readonly string[]>;

/** Starts and controls media tasks, one per call. */
export interface TaskLauncher {
  /** @throws LaunchError when no task could be started. */
  launch(spec: CallSpec): Promise<{ taskRef: string }>;
  /** Ends the call (BYE) and the task; kills it if it does not exit. Safe to call for a task that is gone. */
  stop(callId: string, taskRef?: string): Promise<void>;
  sendCommand(callId: string, command: TaskCommand, taskRef?: string): Promise<void>;
}

/**
 * Media tasks started before their call (functions/standby-pool.ts): a POST takes one instead of launching.
 */
export interface StandbyTasks {
  /** Claims an idle standby task for the call; undefined when none is idle. */
  claim(callId: string): Promise<string | undefined>;
  /** Gives a claimed task back, idle again (its call was not created after all). */
  release(taskRef: string, callId: string): Promise<void>;
  /**
   * Gives the claimed task its call, once the call's record names it.
   * @throws LaunchError when the task can no longer take it (it died, or the pool dropped it).
   */
  handOver(taskRef: string, spec: CallSpec): Promise<void>;
  /** Starts tasks for those taken; never throws. */
  refill(): Promise<void>;
}

/**
 * Where calls' recordings are kept (functions/local/local-recordings.ts: a folder; functions/adapters/
 * s3-recording-links.ts: the stack's bucket): how a client gets the recording of a call.
 */
export interface RecordingStore {
  /** Undefined when the call has none: not asked for, nothing written (yet), not uploaded, or expired. */
  locate(record: CallRecord): Promise<RecordingLocation | undefined>;
}

export type RecordingLocation =
  /** A file the API streams itself (locally); `open` reads it as it is now. */
  | { kind: 'file'; bytes: number; open: () => ReadableStream<Uint8Array> }
  /** A short-lived link to fetch it from (a pre-signed S3 GET). */
  | { kind: 'link'; url: string; expiresAt: string };

/**
 * Tells what became of tasks (functions/core/call-sweep.ts decides what to do about it): ECS DescribeTasks on
 * AWS, the server's own children locally. A lookup that fails answers `unknown` for its tasks, never throws.
 */
export interface TaskInspector {
  inspect(taskRefs: readonly string[]): Promise<Map<string, ObservedTask>>;
}

/** The logging the control plane needs; shared/log.ts's `Logger` fits it. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}
