/**
 * What the standby pool's keeper does on each round, as a pure function of the pool's entries, what the platform
 * says of their tasks, and the time (functions/standby-pool.ts carries it out):
 * ```
 *   idle ────── task gone, idle past maxIdle, or more idle than the pool's size ─► recycle: withdraw, then stop
 *   starting ── task gone, or not ready within startGrace ──────────────────────► drop the entry, stop the task
 *   claimed ─── task gone, or not assigned within handOverGrace (the API died) ─► drop the entry, stop the task
 *   assigned ── task gone, or still listed after handOverGrace ─────────────────► drop the entry (the call goes on)
 *   then: start as many tasks as the pool lacks (entries starting or idle that stay, against its size)
 * ```
 * A task whose lookup failed (`unknown`) is judged by its entry's age only. Recycling withdraws before it stops,
 * and a withdrawal loses to a claim made meanwhile: a task is stopped or given a call, never both.
 */
import type { StandbyEntry } from '../../shared/standby-registry.ts';
import type { ObservedTask } from './call-sweep.ts';

export interface StandbyPolicy {
  /** Tasks kept starting or idle; 0 turns the pool off. */
  size: number;
  /** An idle task older than this is replaced by a fresh one (its code, credentials and memory stay recent). */
  maxIdleMs: number;
  /** How long a task may take from launch to ready. */
  startGraceMs: number;
  /** How long a claim may take to reach `assigned`, and an assigned entry to be removed by its task. */
  handOverGraceMs: number;
}

export type StandbyAction =
  { type: 'recycle'; taskRef: string; why: string } | { type: 'drop'; taskRef: string; stopTask: boolean; why: string };

export interface StandbyPlan {
  actions: StandbyAction[];
  /** Tasks to start. */
  launch: number;
}

export function planStandby(
  entries: readonly StandbyEntry[],
  observed: ReadonlyMap<string, ObservedTask>,
  now: Date,
  policy: StandbyPolicy,
): StandbyPlan {
  const actions: StandbyAction[] = [];
  const keptIdle: StandbyEntry[] = [];
  let keptStarting = 0;
  for (const entry of entries) {
    const status = observed.get(entry.taskRef)?.status ?? 'unknown';
    const gone = status === 'stopped' || status === 'missing';
    const age = now.getTime() - Date.parse(entry.since);
    const { taskRef } = entry;
    switch (entry.state) {
      case 'idle':
        if (gone) actions.push({ type: 'recycle', taskRef, why: `task ${status}` });
        else if (age > policy.maxIdleMs) actions.push({ type: 'recycle', taskRef, why: 'idle too long' });
        else keptIdle.push(entry);
        break;
      case 'starting':
        if (gone || age > policy.startGraceMs)
          actions.push({ type: 'drop', taskRef, stopTask: true, why: gone ? `task ${status}` : 'not ready in time' });
        else keptStarting++;
        break;
      case 'claimed':
        if (gone || age > policy.handOverGraceMs)
          actions.push({
            type: 'drop',
            taskRef,
            stopTask: true,
            why: gone ? `task ${status}` : 'claim never assigned',
          });
        break;
      case 'assigned':
        if (gone || age > policy.handOverGraceMs)
          actions.push({ type: 'drop', taskRef, stopTask: false, why: gone ? `task ${status}` : 'assignment taken' });
        break;
    }
  }
  // More than the pool's size (it shrank, or two refills raced): the oldest idle tasks go.
  const surplus = Math.max(0, keptIdle.length + keptStarting - policy.size);
  const oldestFirst = keptIdle.sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
  const surplusIdle = oldestFirst.slice(0, surplus);
  for (const entry of surplusIdle)
    actions.push({ type: 'recycle', taskRef: entry.taskRef, why: 'more standby tasks than the pool size' });
  const kept = keptIdle.length - surplusIdle.length + keptStarting;
  return { actions, launch: Math.max(0, policy.size - kept) };
}
