/**
 * One behavioural suite for every `CallStore` implementation (in-memory fake, dynalite, DynamoDB Local).
 */
import { describe, expect, it } from 'vitest';
import {
  CallNotFoundError,
  ConcurrencyLimitError,
  ConcurrentUpdateError,
  StreamKeyInUseError,
} from '../../shared/call-errors.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import type { CallRecord, CallStore } from '../../functions/core/ports.ts';

let counter = 0;

export function makeSpec(overrides: Partial<CallSpec> = {}): CallSpec {
  counter += 1;
  return {
    callId: `call-${Date.now().toString(36)}-${counter}`,
    callee: '10000',
    rtmpUrl: 'rtmp://127.0.0.1:1935/live',
    rtmpStream: `stream-${Date.now().toString(36)}-${counter}`,
    hasAudio: true,
    hasVideo: true,
    maxDurationSeconds: 14_400,
    rtpTimeoutSeconds: 30,
    connection: {
      sipLogin: '10000',
      sipPassword: 'hunter2-secret',
      sipAuthenticationName: '10000',
      sipDomain: '162.255.36.11',
      sipPort: 5060,
      sipRegisterRequired: false,
      transport: 'udp',
      appKey: 'callApp',
    },
    ...overrides,
  };
}

export function makeRecord(overrides: Partial<CallSpec> = {}, at = new Date().toISOString()) {
  return newCallRecord(makeSpec(overrides), at);
}

/** A new call of the API key `keyName`. */
export function keyedRecord(keyName: string, at?: string) {
  const { record, secret } = makeRecord({}, at);
  return { record: { ...record, keyName }, secret };
}

let keys = 0;
/** A key name no other test uses: the stores outlive a test. */
export const uniqueKeyName = () => `key-${Date.now().toString(36)}-${++keys}`;

const finish = (record: CallRecord): CallRecord => ({
  ...record,
  state: 'ended',
  ended: { by: 'local', reason: 'bye', durationSeconds: 3 },
});

export function callStoreSuite(name: string, getStore: () => CallStore) {
  describe(`CallStore contract: ${name}`, () => {
    it('creates a call once; a second create returns the stored record', async () => {
      const store = getStore();
      const { record, secret } = makeRecord();
      expect(await store.create(record, secret)).toBe('created');
      const again = await store.create({ ...record, state: 'streaming' }, { sipPassword: 'other' });
      expect(again).toMatchObject({ callId: record.callId, state: 'dialing', version: 1 });
      expect(await store.get(record.callId)).toEqual({ ...record, version: 1 });
      expect(await store.getSecret(record.callId)).toEqual({ sipPassword: 'hunter2-secret' });
    });

    it('keeps the password out of every record it returns', async () => {
      const store = getStore();
      const { record, secret } = makeRecord();
      await store.create(record, secret);
      const got = await store.get(record.callId);
      const listed = await store.list();
      const updated = await store.update({ ...got!, state: 'ringing' }, 1);
      for (const value of [got, listed, updated]) expect(JSON.stringify(value)).not.toContain('hunter2-secret');
    });

    it('answers undefined for an unknown call', async () => {
      const store = getStore();
      expect(await store.get('no-such-call')).toBeUndefined();
      expect(await store.getSecret('no-such-call')).toBeUndefined();
    });

    it('updates with the right version and refuses a stale one', async () => {
      const store = getStore();
      const { record, secret } = makeRecord();
      await store.create(record, secret);
      const v2 = await store.update({ ...record, state: 'ringing' }, 1);
      expect(v2.version).toBe(2);
      await expect(store.update({ ...record, state: 'answered' }, 1)).rejects.toBeInstanceOf(ConcurrentUpdateError);
      expect(await store.get(record.callId)).toMatchObject({ state: 'ringing', version: 2 });
      expect(await store.getSecret(record.callId)).toEqual(secret);
    });

    it('lets exactly one of two racing writers of the same version win', async () => {
      const store = getStore();
      const { record, secret } = makeRecord();
      await store.create(record, secret);
      const results = await Promise.allSettled([
        store.update({ ...record, state: 'ringing' }, 1),
        store.update({ ...record, state: 'failed', failure: { reason: 'sip', message: '486' } }, 1),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(ConcurrentUpdateError);
    });

    it('refuses to update a call that does not exist', async () => {
      const store = getStore();
      const { record } = makeRecord();
      await expect(store.update(record, 1)).rejects.toBeInstanceOf(CallNotFoundError);
    });

    it('removes optional fields that the new record no longer has', async () => {
      const store = getStore();
      const { record, secret } = makeRecord();
      await store.create({ ...record, taskRef: 'task-1' }, secret);
      const { taskRef: _dropped, ...rest } = { ...record, taskRef: 'task-1' };
      await store.update(rest, 1);
      expect((await store.get(record.callId))?.taskRef).toBeUndefined();
    });

    it('lists all, live and by state; final calls leave the live list', async () => {
      const store = getStore();
      const a = makeRecord({}, '2026-01-01T00:00:01.000Z');
      const b = makeRecord({}, '2026-01-01T00:00:02.000Z');
      await store.create(a.record, a.secret);
      await store.create(b.record, b.secret);
      await store.update(finish(b.record), 1);
      const ids = (records: CallRecord[]) =>
        records.map((r) => r.callId).filter((id) => id === a.record.callId || id === b.record.callId);
      expect(ids(await store.list())).toEqual([a.record.callId, b.record.callId]);
      expect(ids(await store.list({ live: true }))).toEqual([a.record.callId]);
      expect(ids(await store.list({ live: false }))).toEqual([b.record.callId]);
      expect(ids(await store.list({ state: 'ended' }))).toEqual([b.record.callId]);
      expect(ids(await store.list({ live: true, state: 'dialing' }))).toEqual([a.record.callId]);
      for (const listed of await store.list()) expect(listed.callId).toMatch(/^[A-Za-z0-9_-]+$/);
    });

    it('keeps the stats history, in the live list too (the live index projects it)', async () => {
      const store = getStore();
      const { record, secret } = makeRecord();
      await store.create(record, secret);
      const statsHistory = [
        { at: '2026-01-01T00:00:10.000Z', bitrateKbps: 131.2, lossPercent: 0.4, audioLevelDb: -18.5 },
        { at: '2026-01-01T00:00:20.000Z', bitrateKbps: 129.9, lossPercent: 0 },
      ];
      await store.update({ ...record, state: 'streaming', statsHistory }, 1);
      expect((await store.get(record.callId))?.statsHistory).toEqual(statsHistory);
      const listed = (await store.list({ live: true })).find((r) => r.callId === record.callId);
      expect(listed?.statsHistory).toEqual(statsHistory);
    });

    it('refuses a second live call on the same stream key, however the URL is spelled', async () => {
      const store = getStore();
      const first = makeRecord({ rtmpUrl: 'rtmp://Example.com/live', rtmpStream: `key-${counter}` });
      await store.create(first.record, first.secret);
      const second = makeRecord({ rtmpUrl: 'rtmp://example.com:1935/live/', rtmpStream: first.record.spec.rtmpStream });
      await expect(store.create(second.record, second.secret)).rejects.toMatchObject({
        name: 'StreamKeyInUseError',
        ownerCallId: first.record.callId,
      });
      expect(await store.get(second.record.callId)).toBeUndefined();
    });

    it('frees the stream key once the call is final', async () => {
      const store = getStore();
      const first = makeRecord();
      await store.create(first.record, first.secret);
      await store.update(finish(first.record), 1);
      const second = makeRecord({ rtmpStream: first.record.spec.rtmpStream });
      expect(await store.create(second.record, second.secret)).toBe('created');
    });

    it('drops the password once the call is final, and keeps the record', async () => {
      const store = getStore();
      const call = makeRecord();
      await store.create(call.record, call.secret);
      expect(await store.getSecret(call.record.callId)).toEqual({ sipPassword: 'hunter2-secret' });
      await store.update(finish(call.record), 1);
      expect(await store.getSecret(call.record.callId)).toBeUndefined();
      expect(await store.get(call.record.callId)).toMatchObject({ state: 'ended', version: 2 });
    });

    it('lets exactly `keyLimit` of 20 parallel creates of one key through; the others leave no record', async () => {
      const store = getStore();
      const keyName = uniqueKeyName();
      const calls = Array.from({ length: 20 }, () => keyedRecord(keyName));
      const results = await Promise.allSettled(calls.map((c) => store.create(c.record, c.secret, { keyLimit: 3 })));
      const created = calls.filter((_, i) => results[i]!.status === 'fulfilled');
      expect(created).toHaveLength(3);
      for (const [i, result] of results.entries()) {
        if (result.status === 'fulfilled') expect(result.value).toBe('created');
        else {
          expect(result.reason).toBeInstanceOf(ConcurrencyLimitError);
          expect(result.reason).toMatchObject({
            keyName,
            limit: 3,
            message: `key "${keyName}" allows 3 concurrent calls`,
          });
          expect(await store.get(calls[i]!.record.callId)).toBeUndefined();
        }
      }
      const live = (await store.list({ live: true })).filter((r) => r.keyName === keyName);
      expect(live.map((r) => r.callId).sort()).toEqual(created.map((c) => c.record.callId).sort());
    });

    it("frees a key's slot once its call is final, and counts only that key's live calls", async () => {
      const store = getStore();
      const keyName = uniqueKeyName();
      const first = keyedRecord(keyName);
      await store.create(first.record, first.secret, { keyLimit: 1 });
      const second = keyedRecord(keyName);
      await expect(store.create(second.record, second.secret, { keyLimit: 1 })).rejects.toBeInstanceOf(
        ConcurrencyLimitError,
      );
      // Another key, a call without a key, and a create without a limit are not held back by it.
      const other = keyedRecord(uniqueKeyName());
      expect(await store.create(other.record, other.secret, { keyLimit: 1 })).toBe('created');
      const keyless = makeRecord();
      expect(await store.create(keyless.record, keyless.secret, { keyLimit: 1 })).toBe('created');
      await store.update({ ...first.record, state: 'failed', failure: { reason: 'sip', message: '486' } }, 1);
      expect(await store.create(second.record, second.secret, { keyLimit: 1 })).toBe('created');
    });

    it("answers a retry of an accepted call with the call, even at its key's limit", async () => {
      const store = getStore();
      const keyName = uniqueKeyName();
      const a = keyedRecord(keyName);
      const b = keyedRecord(keyName);
      await store.create(a.record, a.secret, { keyLimit: 2 });
      await store.create(b.record, b.secret, { keyLimit: 2 });
      expect(await store.create(a.record, a.secret, { keyLimit: 2 })).toMatchObject({ callId: a.record.callId });
      // Limit lowered below the live calls: a retry still gets its call; a new call does not get in.
      expect(await store.create(b.record, b.secret, { keyLimit: 1 })).toMatchObject({ callId: b.record.callId });
      const c = keyedRecord(keyName);
      await expect(store.create(c.record, c.secret, { keyLimit: 2 })).rejects.toBeInstanceOf(ConcurrencyLimitError);
      // A finished call's retry is answered too, and takes no slot with it.
      await store.update(finish(a.record), 1);
      expect(await store.create(a.record, a.secret, { keyLimit: 2 })).toMatchObject({ state: 'ended' });
      expect(await store.create(c.record, c.secret, { keyLimit: 2 })).toBe('created');
    });

    it("keeps a recorded call's recording id and, once final, what became of its recording", async () => {
      const store = getStore();
      const call = makeRecord({ record: true, recordingId: '3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41' });
      await store.create(call.record, call.secret);
      const recording = {
        state: 'uploaded' as const,
        bytes: 81_234,
        key: 'recordings/3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41.mp4',
        at: new Date().toISOString(),
        seq: 9,
      };
      await store.update({ ...finish(call.record), recording }, 1);
      expect(await store.get(call.record.callId)).toMatchObject({
        spec: { record: true, recordingId: '3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41' },
        recording,
      });
    });

    it('lets only one of two racing creates on one stream key through', async () => {
      const store = getStore();
      const a = makeRecord();
      const b = makeRecord({ rtmpStream: a.record.spec.rtmpStream });
      const results = await Promise.allSettled([store.create(a.record, a.secret), store.create(b.record, b.secret)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(
        StreamKeyInUseError,
      );
    });
  });
}
