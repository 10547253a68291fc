import { describe, expect, it } from 'vitest';
import { newCallRecord } from '../../functions/core/call-record.ts';
import { transition, type CallEvent } from '../../functions/core/call-state.ts';
import type { CallSpec, CallState, StateEventBody } from '../../shared/call-types.ts';
import type { CallRecord } from '../../functions/core/ports.ts';

const spec: CallSpec = {
  callId: 'c1',
  callee: '10000',
  rtmpUrl: 'rtmp://127.0.0.1/live',
  rtmpStream: 's',
  hasAudio: true,
  hasVideo: false,
  maxDurationSeconds: 60,
  rtpTimeoutSeconds: 30,
  connection: {
    sipLogin: 'u',
    sipPassword: 'p',
    sipAuthenticationName: 'u',
    sipDomain: 'example.com',
    sipPort: 5060,
    sipRegisterRequired: false,
    transport: 'udp',
  },
};
const T0 = '2026-01-01T00:00:00.000Z';
const fresh = (): CallRecord => newCallRecord(spec, T0).record;
const at = (seq: number) => `2026-01-01T00:00:${String(seq).padStart(2, '0')}.000Z`;
const ev = (seq: number, body: StateEventBody): CallEvent => ({ ...body, callId: 'c1', seq, at: at(seq) });

const ringing = (seq: number) => ev(seq, { type: 'ringing' });
const answered = (seq: number) => ev(seq, { type: 'answered' });
const streaming = (seq: number) => ev(seq, { type: 'streaming' });
const dialing = (seq: number) => ev(seq, { type: 'dialing' });
const ended = (seq: number) => ev(seq, { type: 'ended', by: 'remote', reason: 'BYE', durationSeconds: 5 });
const failed = (seq: number) => ev(seq, { type: 'failed', reason: 'sip', message: '486 Busy Here', sipCode: 486 });
const stats = (seq: number, rtpPackets = seq) =>
  ev(seq, { type: 'stats', rtpPackets, rtpLost: 0, jitterMs: 1, bytesOut: 10 });
const recording = (seq: number, state: 'saved' | 'uploaded' | 'failed' = 'saved') =>
  ev(seq, { type: 'recording', state, bytes: 1000 * seq });
const hangup: CallEvent = { type: 'hangup-requested', callId: 'c1', at: at(30) };
const crashed: CallEvent = { type: 'task-crashed', callId: 'c1', at: at(40), message: 'exit code 137' };
const launchFailed: CallEvent = { type: 'launch-failed', callId: 'c1', at: at(1), message: 'no capacity' };

function run(events: CallEvent[]): CallRecord {
  return events.reduce((record, event) => transition(record, event).record, fresh());
}

type Row = [scenario: string, events: CallEvent[], state: CallState, extra?: Partial<CallRecord>];
const table: Row[] = [
  [
    'the happy path, in order',
    [dialing(1), ringing(2), answered(3), streaming(4), ended(5)],
    'ended',
    { lastSeq: 5, ended: { by: 'remote', reason: 'BYE', durationSeconds: 5 } },
  ],
  ['a peer that answers without ringing', [dialing(1), answered(2), streaming(3)], 'streaming', { lastSeq: 3 }],
  ['a task that reports streaming straight away', [streaming(4)], 'streaming'],
  [
    'busy: failed from ringing',
    [ringing(2), failed(3)],
    'failed',
    { failure: { reason: 'sip', message: '486 Busy Here', sipCode: 486 } },
  ],
  ['ended while still dialing (CANCEL)', [ended(2)], 'ended'],
  [
    'every event delivered twice',
    [ringing(2), ringing(2), answered(3), answered(3), streaming(4), streaming(4)],
    'streaming',
    { lastSeq: 4 },
  ],
  ['answered overtakes ringing', [answered(3), ringing(2)], 'answered', { lastSeq: 3 }],
  ['streaming overtakes everything', [streaming(4), answered(3), ringing(2), dialing(1)], 'streaming', { lastSeq: 4 }],
  [
    'a late state the call went past still leaves its time in the history, the first time only',
    [streaming(4), answered(3), answered(3), ended(6), ringing(2)],
    'ended',
    { lastSeq: 6, stateTimes: { dialing: T0, ringing: at(2), answered: at(3), streaming: at(4), ended: at(6) } },
  ],
  [
    'ended overtakes streaming: the late streaming does not revive the call',
    [ringing(2), ended(5), streaming(4)],
    'ended',
    { lastSeq: 5 },
  ],
  ['a final event with an older seq still wins over a live state', [streaming(9), failed(3)], 'failed', { lastSeq: 9 }],
  [
    'race: ended and failed both reported, ended first → first final wins',
    [streaming(4), ended(5), failed(6)],
    'ended',
  ],
  ['race: failed arrives before ended → failed stays', [streaming(4), failed(6), ended(5)], 'failed'],
  ['a duplicate ended after the end changes nothing', [ended(5), ended(5)], 'ended', { lastSeq: 5 }],
  [
    'a non-final event with a higher seq but an earlier state is ignored',
    [answered(3), ringing(7)],
    'answered',
    { lastSeq: 3 },
  ],
  ['stats never move the state', [stats(2), stats(3)], 'dialing', { statsSeq: 3, lastSeq: 0 }],
  ['stats never make a late state event look stale', [stats(8), answered(3)], 'answered', { statsSeq: 8, lastSeq: 3 }],
  [
    'late stats do not overwrite newer stats',
    [stats(8, 80), stats(6, 60)],
    'dialing',
    { stats: { rtpPackets: 80, rtpLost: 0, jitterMs: 1, bytesOut: 10, at: at(8) } },
  ],
  [
    'per-destination status is kept with the stats',
    [
      ev(2, {
        type: 'stats',
        rtpPackets: 2,
        rtpLost: 0,
        jitterMs: 1,
        bytesOut: 10,
        destinations: [{ url: 'rtmp://b/live', state: 'retrying', reconnects: 3, bytesOut: 0 }],
      }),
    ],
    'dialing',
    {
      stats: {
        rtpPackets: 2,
        rtpLost: 0,
        jitterMs: 1,
        bytesOut: 10,
        destinations: [{ url: 'rtmp://b/live', state: 'retrying', reconnects: 3, bytesOut: 0 }],
        at: at(2),
      },
    },
  ],
  [
    "strict RTP's count of foreign packets dropped is kept with the stats",
    [ev(2, { type: 'stats', rtpPackets: 2, rtpLost: 0, jitterMs: 1, rtpForeignDropped: 150, bytesOut: 10 })],
    'dialing',
    { stats: { rtpPackets: 2, rtpLost: 0, jitterMs: 1, rtpForeignDropped: 150, bytesOut: 10, at: at(2) } },
  ],
  ['stats trailing the end are still recorded', [streaming(4), ended(6), stats(7, 70)], 'ended', { statsSeq: 7 }],
  [
    'hangup requested while streaming: desired changes, state waits for the task',
    [streaming(4), hangup],
    'streaming',
    { desired: 'ended' },
  ],
  [
    'hangup requested, then the task reports the end',
    [streaming(4), hangup, ev(5, { type: 'ended', by: 'local', reason: 'hangup', durationSeconds: 9 })],
    'ended',
    { desired: 'ended' },
  ],
  ['hangup requested after the end is ignored', [ended(5), hangup], 'ended', { desired: 'live' }],
  [
    'the task crashes mid-call',
    [streaming(4), crashed],
    'failed',
    { failure: { reason: 'crashed', message: 'exit code 137' } },
  ],
  ['a crash report after a clean end is ignored', [ended(5), crashed], 'ended'],
  [
    'the task ended cleanly after its crash was reported (exit raced the last event)',
    [streaming(4), crashed, ended(5)],
    'failed',
  ],
  [
    'the recording is reported after the end, without moving the state',
    [streaming(4), ended(6), stats(7), recording(8)],
    'ended',
    { lastSeq: 6, statsSeq: 7, recording: { state: 'saved', bytes: 8000, at: at(8), seq: 8 } },
  ],
  [
    'an uploaded recording keeps its key',
    [ended(6), ev(7, { type: 'recording', state: 'uploaded', bytes: 5, key: 'recordings/k.mp4' })],
    'ended',
    { recording: { state: 'uploaded', bytes: 5, key: 'recordings/k.mp4', at: at(7), seq: 7 } },
  ],
  [
    'a failed recording keeps why, and the call its own outcome',
    [ended(6), ev(7, { type: 'recording', state: 'failed', bytes: 0, error: 'the upload failed' })],
    'ended',
    {
      ended: { by: 'remote', reason: 'BYE', durationSeconds: 5 },
      recording: expect.objectContaining({ error: 'the upload failed' }),
    },
  ],
  [
    'a crashed call keeps the recording its task reported',
    [streaming(4), crashed, recording(9)],
    'failed',
    { failure: { reason: 'crashed', message: 'exit code 137' }, recording: expect.objectContaining({ seq: 9 }) },
  ],
  [
    'a late older recording report does not replace a newer one',
    [recording(9), recording(8)],
    'dialing',
    {
      recording: expect.objectContaining({ seq: 9, bytes: 9000 }),
    },
  ],
  ['no task could be launched', [launchFailed], 'failed', { failure: { reason: 'launch', message: 'no capacity' } }],
];

describe('transition', () => {
  it.each(table)('%s', (_scenario, events, state, extra) => {
    const record = run(events);
    expect(record.state).toBe(state);
    if (extra) expect(record).toMatchObject(extra);
  });

  it.each([
    ['a duplicate state event', [ringing(2)], ringing(2)],
    ['a stale state event whose time is known', [ringing(2), answered(3)], ringing(2)],
    ['anything after a final state', [streaming(4), ended(5)], streaming(4)],
    ['an event of another call', [], { ...ringing(2), callId: 'c2' }],
    ['a second hangup request', [hangup], hangup],
    ['a duplicate stats event', [stats(3)], stats(3)],
    ['a duplicate recording report', [ended(5), recording(6)], recording(6)],
  ] as [string, CallEvent[], CallEvent][])(
    'ignores %s without change (so no write happens)',
    (_scenario, before, event) => {
      const record = run(before);
      const result = transition(record, event);
      expect(result).toMatchObject({ changed: false, effects: [], ignored: expect.any(String) });
      expect(result.record).toBe(record);
    },
  );

  it('emits state-changed with from/to and records when each state was entered', () => {
    const result = transition(run([ringing(2)]), streaming(4));
    expect(result.effects).toEqual([{ type: 'state-changed', from: 'ringing', to: 'streaming' }]);
    expect(result.record.stateTimes).toEqual({ dialing: T0, ringing: at(2), streaming: at(4) });
  });

  it('asks to stop the task on the first hangup request only', () => {
    const first = transition(fresh(), hangup);
    expect(first.effects).toEqual([{ type: 'stop-task' }]);
    expect(transition(first.record, hangup).effects).toEqual([]);
  });

  it('never moves updatedAt backwards when events arrive out of order', () => {
    expect(run([streaming(9), stats(2)]).updatedAt).toBe(at(9));
  });

  it('is pure: the input record is not modified', () => {
    const record = fresh();
    const copy = structuredClone(record);
    transition(record, ended(3));
    expect(record).toEqual(copy);
  });
});
