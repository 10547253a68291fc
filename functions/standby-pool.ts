/**
 * The standby pool's keeper: claims and hands over tasks for new calls, refills after a claim, and on each sweep
 * round recycles, drops and replaces tasks as `planStandby` (functions/core/standby-plan.ts) decides. The same
 * code runs in the local server (child processes) and on AWS (the API Lambda claims and refills, the sweeper
 * Lambda tends); the registry is the call table either way (shared/standby-registry.ts).
 */
import { LaunchError } from '../shared/call-errors.ts';
import type { CallSpec } from '../shared/call-types.ts';
import type { StandbyRegistry } from '../shared/standby-registry.ts';
import type { ObservedTask } from './core/call-sweep.ts';
import type { Logger, StandbyTasks, TaskInspector } from './core/ports.ts';
import { planStandby, type StandbyPolicy } from './core/standby-plan.ts';

/** What the pool needs of a launcher: ECS RunTask/StopTask on AWS, child processes locally. */
export interface StandbyLauncher {
  /** Starts a task that waits for a call; returns its handle. */
  startStandby(): Promise<string>;
  /**
   * The SIP password as the task will read it from its pool entry, sealed for it alone; undefined where the
   * handover carries it (locally, the spec on the task's stdin).
   */
  seal(taskRef: string, spec: CallSpec): Promise<string | undefined>;
  /**
   * Gives an assigned task its call (locally: the spec on its stdin; on AWS nothing: the task reads its entry).
   * @throws LaunchError when the task is gone.
   */
  handOver(taskRef: string, spec: CallSpec): Promise<void>;
  /** Stops a task that has no call. Safe for a task that is gone. */
  stopStandby(taskRef: string): Promise<void>;
  /**
   * Resolves once the task's start no longer takes this machine's CPU: locally when it is ready or gone, so that
   * refills boot one task at a time and a burst of calls keeps the cores; on ECS at once (it boots elsewhere).
   */
  booted(taskRef: string): Promise<void>;
}

export interface StandbyPoolDeps {
  registry: StandbyRegistry;
  launcher: StandbyLauncher;
  inspector: TaskInspector;
  policy: StandbyPolicy;
  logger: Logger;
  now?: () => Date;
  /**
   * Locally: a task is started only once no call has claimed one for this long (or after REFILL_MAX_WAIT_MS),
   * since its boot takes a core that calls starting in a burst need. On ECS, 0: tasks boot elsewhere.
   */
  refillQuietMs?: number;
  /** For tests: how the quiet period is waited for (on the clock of `now`). */
  sleep?: (ms: number) => Promise<void>;
}

/** A refill waits for a pause in claims at most this long: a steady stream of calls still gets its pool back. */
const REFILL_MAX_WAIT_MS = 5_000;

export interface StandbyRound {
  idle: number;
  recycled: number;
  dropped: number;
  launched: number;
}

export class StandbyPool implements StandbyTasks {
  private readonly now: () => Date;
  /** Refills one after the other: two at once would both see the same shortfall. */
  private refilling: Promise<void> = Promise.resolve();
  /** Entries being added: a local task's ready line must not overtake its own registration. */
  private readonly adding = new Map<string, Promise<void>>();
  private closed = false;
  private lastClaimAt = 0;

  constructor(private readonly deps: StandbyPoolDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async claim(callId: string): Promise<string | undefined> {
    if (this.deps.policy.size === 0 || this.closed) return undefined;
    this.lastClaimAt = this.now().getTime();
    return this.deps.registry.claim(callId, this.at());
  }

  async release(taskRef: string, callId: string): Promise<void> {
    await this.deps.registry.release(taskRef, callId, this.at());
  }

  async handOver(taskRef: string, spec: CallSpec): Promise<void> {
    const sealed = await this.deps.launcher.seal(taskRef, spec);
    if (!(await this.deps.registry.assign(taskRef, spec.callId, this.at(), sealed)))
      throw new LaunchError(`standby task ${taskRef} left the pool before its call reached it`);
    await this.deps.launcher.handOver(taskRef, spec);
  }

  refill(): Promise<void> {
    if (this.deps.policy.size === 0) return this.refilling;
    this.refilling = this.refilling.then(async () => {
      const entries = await this.deps.registry.list();
      const waiting = entries.filter((entry) => entry.state === 'starting' || entry.state === 'idle').length;
      await this.launch(this.deps.policy.size - waiting);
    });
    this.refilling = this.refilling.catch((error: unknown) =>
      this.deps.logger.error('standby refill failed', { error }),
    );
    return this.refilling;
  }

  /** Resolves once the refills asked for so far are done (the API Lambda, before it answers and may be frozen). */
  settled(): Promise<void> {
    return this.refilling;
  }

  /** One keeper round (the sweeper's timer): recycle, drop, replace. */
  async tend(): Promise<StandbyRound> {
    const { registry, inspector, launcher, policy, logger } = this.deps;
    const entries = await registry.list();
    const refs = entries.map((entry) => entry.taskRef);
    const observed = refs.length ? await inspector.inspect(refs) : new Map<string, ObservedTask>();
    const plan = planStandby(entries, observed, this.now(), policy);
    const round: StandbyRound = { idle: 0, recycled: 0, dropped: 0, launched: 0 };
    await Promise.all(
      plan.actions.map(async (action) => {
        try {
          if (action.type === 'recycle') {
            // Lost to a claim made meanwhile: the task has a call now, and is not ours to stop.
            if (!(await registry.withdraw(action.taskRef))) return;
            round.recycled++;
            await launcher.stopStandby(action.taskRef);
          } else {
            await registry.remove(action.taskRef);
            round.dropped++;
            if (action.stopTask) await launcher.stopStandby(action.taskRef);
          }
          logger.info(`standby task ${action.type === 'recycle' ? 'recycled' : 'dropped'}`, { ...action });
        } catch (error) {
          logger.error('standby keeper could not act on a task', { ...action, error });
        }
      }),
    );
    if (!this.closed) round.launched = await this.launch(plan.launch);
    round.idle = entries.filter((entry) => entry.state === 'idle').length - round.recycled;
    return round;
  }

  /** A local task printed that it is ready; a task the pool no longer lists is stopped. */
  async ready(taskRef: string): Promise<void> {
    await this.adding.get(taskRef);
    if (!(await this.deps.registry.markIdle(taskRef, this.at()))) await this.deps.launcher.stopStandby(taskRef);
  }

  /** A task exited before it had a call: it leaves the pool (the next round replaces it). */
  async gone(taskRef: string): Promise<void> {
    await this.deps.registry.remove(taskRef);
  }

  /** No more launches; idle and starting tasks are withdrawn and stopped (server shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await this.refilling;
    const { registry, launcher } = this.deps;
    await Promise.all(
      (await registry.list()).map(async ({ taskRef, state }) => {
        if (state === 'starting') await registry.remove(taskRef);
        // An idle task may be claimed meanwhile: the claim wins, as in a keeper round. Other states have calls.
        else if (state !== 'idle' || !(await registry.withdraw(taskRef))) return;
        await launcher.stopStandby(taskRef);
      }),
    );
  }

  private async launch(count: number): Promise<number> {
    let launched = 0;
    for (let i = 0; i < count && !this.closed; i++) {
      await this.quietClaims();
      try {
        const taskRef = await this.deps.launcher.startStandby();
        const added = this.deps.registry.add(taskRef, this.at());
        this.adding.set(taskRef, added);
        await added.finally(() => this.adding.delete(taskRef));
        launched++;
        await this.deps.launcher.booted(taskRef);
      } catch (error) {
        this.deps.logger.error('could not start a standby task', { error });
        break;
      }
    }
    return launched;
  }

  /** Until no claim for `refillQuietMs`, or REFILL_MAX_WAIT_MS have passed. */
  private async quietClaims(): Promise<void> {
    const quietMs = this.deps.refillQuietMs ?? 0;
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const giveUpAt = this.now().getTime() + REFILL_MAX_WAIT_MS;
    for (;;) {
      const wait = Math.min(this.lastClaimAt + quietMs, giveUpAt) - this.now().getTime();
      if (wait <= 0 || this.closed) return;
      await sleep(wait);
    }
  }

  private at(): string {
    return this.now().toISOString();
  }
}
