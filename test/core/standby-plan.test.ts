import { describe, expect, it } from 'vitest';
import type { ObservedTask } from '../../functions/core/call-sweep.ts';
import { planStandby, type StandbyPolicy } from '../../functions/core/standby-plan.ts';
import type { StandbyEntry, StandbyState } from '../../shared/standby-registry.ts';

const NOW = new Date('2026-12-05T12:00:00.000Z');
const POLICY: StandbyPolicy = { size: 2, maxIdleMs: 3_600_000, startGraceMs: 300_000, handOverGraceMs: 60_000 };
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const entry = (taskRef: string, state: StandbyState, ageMs: number): StandbyEntry => ({
  taskRef,
  state,
  since: ago(ageMs),
  ...(state === 'claimed' || state === 'assigned' ? { callId: `call-${taskRef}` } : {}),
});
const running: ObservedTask = { status: 'running' };
const stopped: ObservedTask = { status: 'stopped', reason: 'Essential container exited' };
const missing: ObservedTask = { status: 'missing' };
const unknown: ObservedTask = { status: 'unknown' };

describe('planStandby', () => {
  // One entry at a time, with the pool size 2: what happens to it, and how many tasks are started.
  const cases: Array<[string, StandbyEntry, ObservedTask, ReturnType<typeof planStandby>]> = [
    ['a fresh idle task is kept', entry('a', 'idle', 1_000), running, { actions: [], launch: 1 }],
    [
      'an idle task past maxIdle is recycled',
      entry('a', 'idle', 3_600_001),
      running,
      { actions: [{ type: 'recycle', taskRef: 'a', why: 'idle too long' }], launch: 2 },
    ],
    [
      'an idle task that stopped is recycled',
      entry('a', 'idle', 1_000),
      stopped,
      { actions: [{ type: 'recycle', taskRef: 'a', why: 'task stopped' }], launch: 2 },
    ],
    [
      'an idle task the platform forgot is recycled',
      entry('a', 'idle', 1_000),
      missing,
      { actions: [{ type: 'recycle', taskRef: 'a', why: 'task missing' }], launch: 2 },
    ],
    ['an idle task whose lookup failed is kept', entry('a', 'idle', 1_000), unknown, { actions: [], launch: 1 }],
    ['a starting task within its grace is kept', entry('a', 'starting', 299_000), running, { actions: [], launch: 1 }],
    [
      'a starting task past its grace is dropped and stopped',
      entry('a', 'starting', 300_001),
      unknown,
      { actions: [{ type: 'drop', taskRef: 'a', stopTask: true, why: 'not ready in time' }], launch: 2 },
    ],
    [
      'a starting task that stopped is dropped',
      entry('a', 'starting', 1_000),
      stopped,
      { actions: [{ type: 'drop', taskRef: 'a', stopTask: true, why: 'task stopped' }], launch: 2 },
    ],
    ['a fresh claim is left to its API request', entry('a', 'claimed', 59_000), running, { actions: [], launch: 2 }],
    [
      'a claim never assigned (the API died) is dropped and its task stopped',
      entry('a', 'claimed', 60_001),
      running,
      { actions: [{ type: 'drop', taskRef: 'a', stopTask: true, why: 'claim never assigned' }], launch: 2 },
    ],
    [
      'an assignment the task has yet to read stays',
      entry('a', 'assigned', 1_000),
      running,
      { actions: [], launch: 2 },
    ],
    [
      'an old assignment is dropped, its task (running its call) left alone',
      entry('a', 'assigned', 60_001),
      running,
      { actions: [{ type: 'drop', taskRef: 'a', stopTask: false, why: 'assignment taken' }], launch: 2 },
    ],
    [
      'an assignment whose task died is dropped (the call sweep closes the call)',
      entry('a', 'assigned', 1_000),
      stopped,
      { actions: [{ type: 'drop', taskRef: 'a', stopTask: false, why: 'task stopped' }], launch: 2 },
    ],
  ];
  it.each(cases)('%s', (_name, one, observed, plan) => {
    expect(planStandby([one], new Map([[one.taskRef, observed]]), NOW, POLICY)).toEqual(plan);
  });

  it('starts what the pool lacks, counting starting tasks as on their way', () => {
    expect(planStandby([], new Map(), NOW, POLICY)).toEqual({ actions: [], launch: 2 });
    const entries = [entry('a', 'starting', 1_000), entry('b', 'idle', 1_000), entry('c', 'claimed', 1_000)];
    expect(planStandby(entries, new Map(), NOW, POLICY)).toEqual({ actions: [], launch: 0 });
  });

  it('recycles the oldest idle tasks when the pool holds more than its size, and nothing when it is off', () => {
    const entries = [entry('young', 'idle', 1_000), entry('old', 'idle', 9_000), entry('mid', 'idle', 5_000)];
    const observed = new Map(entries.map((e) => [e.taskRef, running]));
    expect(planStandby(entries, observed, NOW, POLICY)).toEqual({
      actions: [{ type: 'recycle', taskRef: 'old', why: 'more standby tasks than the pool size' }],
      launch: 0,
    });
    expect(planStandby(entries, observed, NOW, { ...POLICY, size: 0 }).actions.map((a) => a.taskRef)).toEqual([
      'old',
      'mid',
      'young',
    ]);
  });

  it('does not count a recycled task twice: a dead idle task and a surplus are two different tasks', () => {
    const entries = [entry('dead', 'idle', 1_000), entry('b', 'idle', 2_000), entry('c', 'idle', 3_000)];
    const observed = new Map<string, ObservedTask>([
      ['dead', stopped],
      ['b', running],
      ['c', running],
    ]);
    expect(planStandby(entries, observed, NOW, POLICY)).toEqual({
      actions: [{ type: 'recycle', taskRef: 'dead', why: 'task stopped' }],
      launch: 0,
    });
  });
});
