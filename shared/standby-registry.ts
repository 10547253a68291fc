/**
 * The pool of standby media tasks: tasks started ahead of any call, waiting idle until a POST claims one. The
 * control plane starts, claims and recycles them (functions/standby-pool.ts); on AWS a standby task itself says
 * when it is ready and reads which call it was given. Both sides use this port; the one adapter is
 * shared/aws/dynamodb-standby-registry.ts, over the call table, locally too (the embedded store).
 *
 * An entry's life: `starting` (launched) → `idle` (the task is ready) → `claimed` (a POST took it for a call; its
 * record does not name the task yet; `idle` again if the call is not created) → `assigned` (the record names it:
 * the task may run the call) → removed.
 * Every move is a conditional write on the entry's state, so one task goes to one call and one call gets one task.
 */

export type StandbyState = 'starting' | 'idle' | 'claimed' | 'assigned';

export interface StandbyEntry {
  /** The launcher's handle (ECS task ARN, `local:<pid>`). */
  taskRef: string;
  state: StandbyState;
  /** When the entry entered its state. */
  since: string;
  /** Set from `claimed` on. */
  callId?: string;
  /**
   * From `assigned` on, where the task reads its call from the pool (AWS): the SIP password, sealed for this task
   * alone (shared/aws/kms-secret-cipher.ts, encryption context callId + taskRef).
   */
  sealed?: string;
}

export interface StandbyRegistry {
  /** A task was launched for the pool. */
  add(taskRef: string, at: string): Promise<void>;
  /** `starting` → `idle`; false when the entry is gone or not starting (the pool dropped the task). */
  markIdle(taskRef: string, at: string): Promise<boolean>;
  /** Takes one idle task for the call, atomically; undefined when none is idle. */
  claim(callId: string, at: string): Promise<string | undefined>;
  /** `claimed` by this call → `idle` again; false when the entry is no longer that. */
  release(taskRef: string, callId: string, at: string): Promise<boolean>;
  /** `claimed` by this call → `assigned`, with the sealed password if the task reads it here; false when not claimed by it. */
  assign(taskRef: string, callId: string, at: string, sealed?: string): Promise<boolean>;
  /** Removes an idle entry; false when it was claimed meanwhile (the claim wins) or is gone. */
  withdraw(taskRef: string): Promise<boolean>;
  /** Removes the entry whatever its state (its task took its call, or is gone). */
  remove(taskRef: string): Promise<void>;
  get(taskRef: string): Promise<StandbyEntry | undefined>;
  list(): Promise<StandbyEntry[]>;
}
