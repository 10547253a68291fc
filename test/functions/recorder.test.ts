import { describe, expect, it } from 'vitest';
import { ConcurrentUpdateError } from '../../shared/call-errors.ts';
import type { CallEvent } from '../../functions/core/call-state.ts';
import type { StateEvent, StateEventBody } from '../../shared/call-types.ts';
import type { CallRecord } from '../../functions/core/ports.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { makeRecord } from './call-store.suite.ts';
import { MemoryCallStore } from './fakes.ts';

async function setup() {
  const store = new MemoryCallStore();
  const { record, secret } = makeRecord({}, '2026-01-01T00:00:00.000Z');
  await store.create(record, secret);
  const ev = (seq: number, body: StateEventBody): StateEvent => ({
    ...body,
    callId: record.callId,
    seq,
    at: `2026-01-01T00:00:${String(seq).padStart(2, '0')}.000Z`,
  });
  return { store, callId: record.callId, ev };
}

const ended: StateEventBody = { type: 'ended', by: 'remote', reason: 'BYE', durationSeconds: 10 };

describe('recordEvent', () => {
  it('applies a stream of events in order and writes once per change', async () => {
    const { store, callId, ev } = await setup();
    for (const event of [
      ev(1, { type: 'dialing' }),
      ev(2, { type: 'ringing' }),
      ev(3, { type: 'answered' }),
      ev(4, { type: 'streaming' }),
      ev(5, ended),
    ]) {
      await recordEvent(store, event);
    }
    // dialing seq 1 does not move the freshly created 'dialing' record, so 4 writes: v1 → v5.
    expect(await store.get(callId)).toMatchObject({ state: 'ended', lastSeq: 5, version: 5 });
  });

  it('is idempotent: a duplicate event writes nothing', async () => {
    const { store, callId, ev } = await setup();
    const first = await recordEvent(store, ev(2, { type: 'ringing' }));
    const second = await recordEvent(store, ev(2, { type: 'ringing' }));
    expect(first.applied).toBe(true);
    expect(second).toMatchObject({ applied: false, ignored: expect.stringContaining('seq') });
    expect((await store.get(callId))?.version).toBe(2);
  });

  it('ends the same whatever order the events arrive in', async () => {
    const events = (ev: (seq: number, body: StateEventBody) => StateEvent) => [
      ev(2, { type: 'ringing' }),
      ev(3, { type: 'answered' }),
      ev(4, { type: 'streaming' }),
      ev(5, { type: 'stats', rtpPackets: 10, rtpLost: 0, jitterMs: 1, bytesOut: 100 }),
      ev(6, ended),
    ];
    const finals: CallRecord[] = [];
    for (const order of [
      [0, 1, 2, 3, 4],
      [4, 3, 2, 1, 0],
      [2, 4, 0, 3, 1],
      [1, 1, 4, 4, 0, 2, 3],
    ]) {
      const { store, callId, ev } = await setup();
      for (const i of order) await recordEvent(store, events(ev)[i]!);
      const {
        version: _v,
        callId: _c,
        spec: _s,
        streamKey: _k,
        createdAt: _a,
        stateTimes: _t,
        lastSeq: _l,
        // Rates between reports as they arrived: a display aid, measured in arrival order by design.
        statsHistory: _h,
        ...rest
      } = (await store.get(callId))!;
      finals.push(rest as CallRecord);
    }
    for (const record of finals) expect(record).toEqual(finals[0]);
    expect(finals[0]).toMatchObject({ state: 'ended', stats: { rtpPackets: 10 } });
  });

  it('retries when a concurrent writer wins, and both changes survive', async () => {
    const { store, callId, ev } = await setup();
    await Promise.all([
      recordEvent(store, ev(2, { type: 'ringing' })),
      recordEvent(store, ev(3, { type: 'stats', rtpPackets: 1, rtpLost: 0, jitterMs: 0, bytesOut: 1 })),
    ]);
    expect(await store.get(callId)).toMatchObject({ state: 'ringing', stats: { rtpPackets: 1 } });
  });

  it('gives up after maxAttempts against a store that always loses', async () => {
    const { store, ev } = await setup();
    store.update = async (next) => {
      throw new ConcurrentUpdateError(next.callId);
    };
    await expect(recordEvent(store, ev(2, { type: 'ringing' }), { maxAttempts: 3 })).rejects.toBeInstanceOf(
      ConcurrentUpdateError,
    );
  });

  it('ignores events for unknown calls (expired by TTL) without throwing', async () => {
    const { store } = await setup();
    const event: CallEvent = {
      type: 'task-crashed',
      callId: 'gone',
      at: '2026-01-01T00:00:00.000Z',
      message: 'exit 1',
    };
    expect(await recordEvent(store, event)).toEqual({ applied: false, effects: [], ignored: 'unknown call' });
  });

  it('returns the stop-task effect of a hangup request once', async () => {
    const { store, callId } = await setup();
    const hangup: CallEvent = { type: 'hangup-requested', callId, at: '2026-01-01T00:00:09.000Z' };
    expect((await recordEvent(store, hangup)).effects).toEqual([{ type: 'stop-task' }]);
    expect((await recordEvent(store, hangup)).effects).toEqual([]);
    expect((await store.get(callId))?.desired).toBe('ended');
  });
});
