/** The sweeper's decision (functions/core/call-sweep.ts), as a table: one live record, its task, the time. */
import { describe, expect, it } from 'vitest';
import { decideSweep, endedEvent, type ObservedTask, type SweepPolicy } from '../../functions/core/call-sweep.ts';
import type { CallRecord } from '../../functions/core/ports.ts';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const policy: SweepPolicy = { launchGraceMs: 30_000, stoppedGraceMs: 30_000, limitGraceMs: 30_000 };

function record(overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    callId: 'c1',
    spec: {
      callId: 'c1',
      callee: '1',
      rtmpUrl: 'rtmp://203.0.113.1/live',
      rtmpStream: 's',
      hasAudio: true,
      hasVideo: false,
      maxDurationSeconds: 600,
      rtpTimeoutSeconds: 30,
      connection: {
        sipLogin: '1',
        sipAuthenticationName: '1',
        sipDomain: 'sip.example.net',
        sipPort: 5060,
        sipRegisterRequired: false,
        transport: 'udp',
      },
    },
    streamKey: 'rtmp://203.0.113.1:1935/live/s',
    state: 'dialing',
    desired: 'live',
    lastSeq: 0,
    statsSeq: 0,
    version: 1,
    createdAt: iso(0),
    updatedAt: iso(0),
    stateTimes: { dialing: iso(0) },
    ...overrides,
  };
}

const withTask = { taskRef: 'task-1' };
const streaming = {
  ...withTask,
  state: 'streaming' as const,
  lastSeq: 4,
  stateTimes: { dialing: iso(0), answered: iso(2), streaming: iso(3) },
};
const running: ObservedTask = { status: 'running' };
const stoppedAt = (seconds: number): ObservedTask => ({
  status: 'stopped',
  stoppedAt: iso(seconds),
  reason: 'Essential container in task exited (exit code 137)',
});

type Row = [
  scenario: string,
  record: CallRecord,
  task: ObservedTask | undefined,
  nowSeconds: number,
  expected: Record<string, unknown>,
];

const table: Row[] = [
  // no task attached
  ['launch still in flight (within the launch grace) → wait', record(), undefined, 30, { action: 'none' }],
  [
    'never launched (API died before RunTask) → failed / launch',
    record(),
    undefined,
    31,
    {
      action: 'close',
      reason: 'launch',
      stopTask: false,
      event: { type: 'launch-failed', callId: 'c1', at: iso(31), message: expect.stringContaining('30 s') },
    },
  ],
  [
    'never launched, hang-up requested → ended / local',
    record({ desired: 'ended' }),
    undefined,
    31,
    { action: 'close', reason: 'hung-up', event: { type: 'ended', by: 'local', seq: 1, durationSeconds: 0 } },
  ],
  // a task that stopped and whose call nobody closed
  [
    'task stopped just now: the reconciler has its grace → wait',
    record(streaming),
    stoppedAt(100),
    130,
    { action: 'none' },
  ],
  [
    'STOPPED event lost (DescribeTasks says STOPPED) → failed / crashed',
    record(streaming),
    stoppedAt(100),
    131,
    {
      action: 'close',
      reason: 'crashed',
      stopTask: false,
      event: { type: 'task-crashed', message: expect.stringContaining('exit code 137') },
    },
  ],
  [
    'stopped with no stop time → failed / crashed at once',
    record(streaming),
    { status: 'stopped', reason: 'x' },
    10,
    { action: 'close', reason: 'crashed' },
  ],
  [
    'stopped after a hang-up was requested → ended / local, with the duration since the answer',
    record({ ...streaming, desired: 'ended' }),
    stoppedAt(100),
    200,
    { action: 'close', reason: 'hung-up', event: { type: 'ended', by: 'local', seq: 5, durationSeconds: 198 } },
  ],
  [
    'task missing (ECS forgot it) → failed / crashed',
    record(streaming),
    { status: 'missing' },
    3600,
    { action: 'close', reason: 'crashed' },
  ],
  [
    'task missing right after the launch (not visible yet) → wait',
    record(withTask),
    { status: 'missing' },
    5,
    { action: 'none' },
  ],
  // the limit
  ['running within maxDuration + grace → nothing', record(streaming), running, 630, { action: 'none' }],
  [
    'running past maxDuration + grace (hung task) → stop it, ended / limit',
    record(streaming),
    running,
    631,
    {
      action: 'close',
      reason: 'limit',
      stopTask: true,
      event: {
        type: 'ended',
        by: 'limit',
        seq: 5,
        durationSeconds: 629,
        reason: expect.stringContaining('max-duration'),
      },
    },
  ],
  [
    'still dialing past the limit (hung before answer) → ended / limit, duration 0',
    record(withTask),
    running,
    631,
    { action: 'close', reason: 'limit', event: { type: 'ended', by: 'limit', durationSeconds: 0 } },
  ],
  ['lookup failed: never judged gone', record(streaming), { status: 'unknown' }, 300, { action: 'none' }],
  [
    'lookup failed past the limit: still stopped',
    record(streaming),
    { status: 'unknown' },
    700,
    { action: 'close', reason: 'limit', stopTask: true },
  ],
  [
    'no answer about the task at all, past the limit: stopped',
    record(streaming),
    undefined,
    700,
    { action: 'close', reason: 'limit' },
  ],
  // final records
  ['an ended call is never touched', record({ ...streaming, state: 'ended' }), stoppedAt(0), 9999, { action: 'none' }],
  ['a failed call without a task is never touched', record({ state: 'failed' }), undefined, 9999, { action: 'none' }],
];

describe('decideSweep', () => {
  it.each(table)('%s', (_scenario, call, task, nowSeconds, expected) => {
    expect(decideSweep(call, task, at(nowSeconds), policy)).toMatchObject(expected);
  });

  it('respects other graces', () => {
    const short: SweepPolicy = { launchGraceMs: 1_000, stoppedGraceMs: 0, limitGraceMs: 0 };
    expect(decideSweep(record(), undefined, at(2), short)).toMatchObject({ reason: 'launch' });
    expect(decideSweep(record(streaming), stoppedAt(5), at(5.001), short)).toMatchObject({ reason: 'crashed' });
    expect(
      decideSweep(
        record({ ...streaming, spec: { ...record().spec, maxDurationSeconds: 2 } }),
        running,
        at(2.001),
        short,
      ),
    ).toMatchObject({ reason: 'limit' });
  });
});

describe('endedEvent', () => {
  it('comes after everything the task reported and counts from the answer', () => {
    expect(endedEvent(record(streaming), 'limit', 'max-duration', iso(62))).toEqual({
      type: 'ended',
      by: 'limit',
      reason: 'max-duration',
      durationSeconds: 60,
      callId: 'c1',
      seq: 5,
      at: iso(62),
    });
  });
});
