/**
 * What the API does with calls, apart from HTTP: start (store, then launch), hang up, send DTMF. Routes of both
 * dialects (WCS and /v1) call these, so the rules live once.
 */
import {
  CallIdConflictError,
  CallNotFoundError,
  CallNotLiveError,
  LaunchError,
  ValidationError,
} from '../../shared/call-errors.ts';
import type { CallOrigin } from '../core/api-keys.ts';
import { newCallRecord, sameRequest } from '../core/call-record.ts';
import { hostName, isBlockedAddress } from '../../shared/call-spec-schema.ts';
import { isFinal } from '../../shared/call-types.ts';
import { endedEvent } from '../core/call-sweep.ts';
import type { CallSpec, CallState, TaskCommand } from '../../shared/call-types.ts';
import type {
  CallRecord,
  CallStore,
  HostResolver,
  Logger,
  StandbyTasks,
  StatusCallbackTarget,
  TaskLauncher,
} from '../core/ports.ts';
import { attachTaskRef, recordEvent, type RecordResult } from '../recorder.ts';

/** Told about state changes the API itself causes (creation, launch failure); the recorder reports the rest. */
export type StateChangeListener = (
  record: CallRecord,
  change: { from?: CallState; to: CallState },
) => void | Promise<void>;

export interface CallServiceDeps {
  store: CallStore;
  launcher: TaskLauncher;
  /** Tasks started ahead of calls; a call takes one when one is idle, else the launcher starts one. */
  standby?: StandbyTasks;
  resolveHost: HostResolver;
  logger: Logger;
  now: () => Date;
  onStateChange?: StateChangeListener;
}

export interface StartOptions {
  statusCallback?: StatusCallbackTarget;
  /** Absent when no key is configured (local no-key mode): the call then has no key name and no limit. */
  origin?: CallOrigin;
}

export class CallService {
  constructor(private readonly deps: CallServiceDeps) {}

  /**
   * Stores the call, then gives it a task: an idle standby task if there is one, else a fresh launch. The record
   * comes first so that the task's first event always finds it, and so that the callId, the stream key and a
   * slot of the key's limit are claimed before any SIP traffic. A standby task gets its call only once the record
   * names it.
   * @returns `created: false` when the same request was already accepted (a client retry).
   * @throws ConcurrencyLimitError when the origin's key is at its limit: nothing is stored or launched.
   */
  async start(requested: CallSpec, options: StartOptions = {}): Promise<{ created: boolean; record: CallRecord }> {
    const { store, launcher, logger } = this.deps;
    const { statusCallback, origin } = options;
    // The recording is named by us, never by the caller's callId: see shared/recording-names.ts.
    const spec = requested.record ? { ...requested, recordingId: crypto.randomUUID() } : requested;
    await this.refuseBlockedNames(spec, statusCallback);
    const at = this.deps.now().toISOString();
    const fresh = newCallRecord(spec, at);
    const record: CallRecord = {
      ...fresh.record,
      ...(statusCallback ? { statusCallback } : {}),
      ...(origin ? { keyName: origin.name } : {}),
    };
    const limit = origin?.maxConcurrentCalls;
    // Claimed while the record is written, as the claim needs nothing from it; released if the call is not new.
    const claim = this.claimStandby(spec.callId);
    let outcome: Awaited<ReturnType<CallStore['create']>>;
    try {
      outcome = await store.create(record, fresh.secret, limit === undefined ? {} : { keyLimit: limit });
    } catch (error) {
      await this.releaseStandby(claim, spec.callId);
      throw error;
    }
    if (outcome !== 'created') {
      await this.releaseStandby(claim, spec.callId);
      if (!sameRequest(outcome, await store.getSecret(spec.callId), spec)) throw new CallIdConflictError(spec.callId);
      return { created: false, record: outcome };
    }
    // The task's own `dialing` event does not move the record (it is created dialing), so the API reports it.
    await this.deps.onStateChange?.(record, { to: 'dialing' });
    // As `create` stored it: the first write needs no read.
    const stored: CallRecord = { ...record, version: 1 };
    const standby = await this.takeStandby(spec, stored, claim);
    if (standby) {
      logger.info('call started on a standby task', { callId: spec.callId, taskRef: standby.taskRef });
      // Not awaited: locally the refill paces its tasks' boots; the API Lambda waits for it before it answers.
      void this.deps.standby?.refill();
      return this.afterAttach(spec, standby);
    }
    let taskRef: string;
    try {
      ({ taskRef } = await launcher.launch(spec));
    } catch (error) {
      logger.error('task launch failed', { callId: spec.callId, error });
      const message = error instanceof Error ? error.message : String(error);
      const reason = error instanceof LaunchError ? error.reason : 'launch';
      await this.reportChanges(
        await recordEvent(store, {
          type: 'launch-failed',
          callId: spec.callId,
          at: this.deps.now().toISOString(),
          message,
          reason,
        }),
      );
      throw error instanceof LaunchError ? error : new LaunchError('could not start a media task', { cause: error });
    }
    const attached = await attachTaskRef(store, spec.callId, taskRef, stored);
    logger.info('call started', { callId: spec.callId, taskRef });
    return this.afterAttach(spec, attached.record ?? { ...record, taskRef });
  }

  /** A hangup that arrived while the task was being found had no task to stop yet. */
  private async afterAttach(spec: CallSpec, record: CallRecord): Promise<{ created: true; record: CallRecord }> {
    if (record.desired === 'ended') await this.deps.launcher.stop(spec.callId, record.taskRef);
    return { created: true, record };
  }

  /** An idle standby task for the call, or undefined (none idle, no pool, or the claim failed). Never rejects. */
  private async claimStandby(callId: string): Promise<string | undefined> {
    try {
      return await this.deps.standby?.claim(callId);
    } catch (error) {
      this.deps.logger.warn('could not claim a standby task', { callId, error });
      return undefined;
    }
  }

  /** Gives a claimed task back to the pool: its call was not created. */
  private async releaseStandby(claim: Promise<string | undefined>, callId: string): Promise<void> {
    const taskRef = await claim;
    if (!taskRef) return;
    await this.deps.standby
      ?.release(taskRef, callId)
      .catch((error: unknown) => this.deps.logger.warn('could not release a standby task', { taskRef, error }));
  }

  /**
   * Names the claimed standby task in the record, then hands it the call. Undefined when none was claimed or the
   * handover failed (the task died meanwhile): the caller launches one, whose taskRef replaces this one.
   */
  private async takeStandby(
    spec: CallSpec,
    stored: CallRecord,
    claim: Promise<string | undefined>,
  ): Promise<CallRecord | undefined> {
    const { standby, store, logger } = this.deps;
    const taskRef = await claim;
    if (!standby || !taskRef) return undefined;
    try {
      const attached = await attachTaskRef(store, spec.callId, taskRef, stored);
      await standby.handOver(taskRef, spec);
      return attached.record ?? undefined;
    } catch (error) {
      logger.warn('the standby task did not take the call; launching one', { callId: spec.callId, taskRef, error });
      return undefined;
    }
  }

  /**
   * The schema refuses link-local and metadata addresses as written, but a name can resolve to one (a DNS record
   * the caller controls), so each name a new call will connect to is resolved once, before anything is stored.
   * A name that resolves otherwise later (DNS rebinding) is not caught: ffmpeg and the SIP stack resolve again.
   */
  private async refuseBlockedNames(spec: CallSpec, statusCallback: StatusCallbackTarget | undefined): Promise<void> {
    const targets: Array<[field: string, target: string]> = [
      ['rtmpUrl', spec.rtmpUrl],
      ...(spec.destinations ?? []).map((destination, index): [string, string] => [
        `destinations.${index}.url`,
        destination.url,
      ]),
      ['connection.sipDomain', spec.connection.sipDomain],
      ...(statusCallback ? [['statusCallback', statusCallback.url] as [string, string]] : []),
    ];
    const hosts = targets.map(([, target]) => hostName(target));
    // Each name once: a lookup that times out still holds one of libuv's four threads until the resolver gives up.
    const names = [...new Set(hosts.filter((host) => host !== undefined))];
    // A retry of an accepted call gets its record, whatever its names resolve to by now.
    if (names.length === 0 || (await this.deps.store.get(spec.callId))) return;
    const answers = new Map(
      await Promise.all(names.map(async (name) => [name, await this.deps.resolveHost(name)] as const)),
    );
    targets.forEach(([field], index) => {
      const blocked = answers.get(hosts[index] ?? '')?.find(isBlockedAddress);
      if (blocked)
        throw new ValidationError(`${field} resolves to ${blocked}, a link-local or cloud metadata address`, field);
    });
  }

  async get(callId: string): Promise<CallRecord> {
    const record = await this.deps.store.get(callId);
    if (!record) throw new CallNotFoundError(callId);
    return record;
  }

  /**
   * Records the wish to end the call, then asks the launcher to stop the task. The stop is repeated on every
   * request while the call is live, so a client retry also retries a stop that failed.
   * A call with no task (never launched, or its launch still in flight) ends at once, `local`: no task would
   * ever report its end, and its stream key would stay taken. A launch that lands later reads `desired: ended`
   * in `start` and stops its task.
   */
  async hangup(callId: string): Promise<CallRecord> {
    const { store, launcher } = this.deps;
    const result = await recordEvent(store, { type: 'hangup-requested', callId, at: this.deps.now().toISOString() });
    const record = result.record;
    if (!record) throw new CallNotFoundError(callId);
    if (!isFinal(record.state) && !record.taskRef) {
      const ended = await recordEvent(
        store,
        endedEvent(record, 'local', 'hang-up before any media task started', this.deps.now().toISOString()),
      );
      await this.reportChanges(ended);
      return ended.record ?? record;
    }
    if (!isFinal(record.state)) {
      try {
        await launcher.stop(callId, record.taskRef);
      } catch (error) {
        throw error instanceof LaunchError ? error : new LaunchError('could not stop the media task', { cause: error });
      }
    }
    return record;
  }

  async sendDtmf(callId: string, digits: string, method?: 'rfc4733' | 'info'): Promise<CallRecord> {
    const record = await this.get(callId);
    if (isFinal(record.state)) throw new CallNotLiveError(callId, record.state);
    const command: TaskCommand = { type: 'dtmf', digits, ...(method ? { method } : {}) };
    try {
      await this.deps.launcher.sendCommand(callId, command, record.taskRef);
    } catch (error) {
      throw error instanceof LaunchError ? error : new LaunchError('could not reach the media task', { cause: error });
    }
    return record;
  }

  private async reportChanges(result: RecordResult): Promise<void> {
    for (const effect of result.effects) {
      if (effect.type === 'state-changed' && result.record) await this.deps.onStateChange?.(result.record, effect);
    }
  }
}
