import { describe, expect, it } from 'vitest';
import { LIST_PRICES } from '../../functions/core/call-usage.ts';
import type { CallRecord } from '../../functions/core/ports.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { verifyBodySignature } from '../../functions/webhooks/signature.ts';
import type { PostJson } from '../../functions/adapters/guarded-post.ts';
import {
  DELIVERY_LOG_LIMIT,
  RETRY_DELAYS_MS,
  StatusNotifier,
  notifyStateChange,
  type NotifyDeps,
} from '../../functions/webhooks/status-notifier.ts';
import { silentLogger } from '../../shared/log.ts';
import { makeRecord } from '../functions/call-store.suite.ts';
import { MemoryCallStore } from '../functions/fakes.ts';

const KEY = 'status-signing-key-0123456789';
const NOW = new Date('2026-05-01T12:00:00.000Z');

interface Sent {
  url: string;
  body: string;
  headers: Record<string, string>;
}

/** A receiver answering from a script of statuses (or failing to connect for 'down'), recording every request. */
function receiver(script: (number | 'down')[] = []) {
  const sent: Sent[] = [];
  const post: PostJson = async (url, { body, headers }) => {
    sent.push({ url, body, headers });
    const next = script.shift() ?? 204;
    if (next === 'down') throw new Error('connect ECONNREFUSED 203.0.113.7:443');
    return next;
  };
  return { sent, post };
}

async function storedCall(
  statusCallback: CallRecord['statusCallback'] | null = { url: 'https://hooks.example.com/calls?token=abc' },
) {
  const store = new MemoryCallStore();
  const { record, secret } = makeRecord();
  await store.create({ ...record, ...(statusCallback ? { statusCallback } : {}) }, secret);
  return { store, callId: record.callId };
}

function deps(store: MemoryCallStore, post: PostJson, sleeps: number[] = []): NotifyDeps {
  return {
    store,
    signingKey: KEY,
    logger: silentLogger,
    pricing: LIST_PRICES,
    post,
    now: () => NOW,
    sleep: async (ms) => void sleeps.push(ms),
  };
}

describe('status callbacks', () => {
  it('POSTs the change as signed JSON without secrets, and logs the delivery on the record', async () => {
    const { store, callId } = await storedCall();
    const { record } = await recordEvent(store, { type: 'ringing', callId, seq: 1, at: '2026-05-01T12:00:01.000Z' });
    const { sent, post } = receiver([200]);
    expect(await notifyStateChange(record!, { from: 'dialing', to: 'ringing' }, deps(store, post))).toBe('delivered');

    expect(sent).toHaveLength(1);
    const [request] = sent;
    expect(request!.url).toBe('https://hooks.example.com/calls?token=abc');
    expect(JSON.parse(request!.body)).toMatchObject({
      type: 'call.state',
      callId,
      state: 'ringing',
      previousState: 'dialing',
      sequence: record!.version,
      at: '2026-05-01T12:00:01.000Z',
      call: { callId, state: 'ringing' },
    });
    expect(request!.body).not.toContain('hunter2-secret');
    expect(verifyBodySignature(KEY, request!.headers['X-Gateway-Signature'], request!.body, NOW.getTime() / 1000)).toBe(
      true,
    );
    expect(request!.headers['X-Gateway-Delivery']).toBe(`${callId}:${record!.version}`);
    expect((await store.get(callId))!.deliveries).toEqual([
      {
        state: 'ringing',
        sequence: record!.version,
        attempt: 1,
        at: NOW.toISOString(),
        outcome: 'delivered',
        httpStatus: 200,
      },
    ]);
  });

  it('retries network errors and 5xx with growing delays, then stops at the first success', async () => {
    const { store, callId } = await storedCall();
    const record = (await store.get(callId))!;
    const { sent, post } = receiver(['down', 503, 429, 200]);
    const sleeps: number[] = [];
    expect(await notifyStateChange(record, { to: 'dialing' }, deps(store, post, sleeps))).toBe('delivered');
    expect(sent).toHaveLength(4);
    expect(sleeps).toEqual(RETRY_DELAYS_MS.slice(0, 3));
    expect((await store.get(callId))!.deliveries!.map((d) => [d.attempt, d.outcome, d.httpStatus ?? d.error])).toEqual([
      [1, 'retrying', 'connect ECONNREFUSED 203.0.113.7:443'],
      [2, 'retrying', 503],
      [3, 'retrying', 429],
      [4, 'delivered', 200],
    ]);
  });

  it('gives up after the last delay when the receiver stays down', async () => {
    const { store, callId } = await storedCall();
    const { sent, post } = receiver(Array(20).fill(500));
    expect(await notifyStateChange((await store.get(callId))!, { to: 'dialing' }, deps(store, post))).toBe('failed');
    expect(sent).toHaveLength(RETRY_DELAYS_MS.length + 1);
    expect((await store.get(callId))!.deliveries!.at(-1)).toMatchObject({ outcome: 'failed', httpStatus: 500 });
  });

  it.each([400, 404, 301])('takes a %s as the final answer (no retry)', async (status) => {
    const { store, callId } = await storedCall();
    const { sent, post } = receiver([status]);
    expect(await notifyStateChange((await store.get(callId))!, { to: 'dialing' }, deps(store, post))).toBe('failed');
    expect(sent).toHaveLength(1);
  });

  it('sends only the states listed in statusCallbackEvents, and nothing without a statusCallback', async () => {
    const filtered = await storedCall({ url: 'https://hooks.example.com/x', events: ['ended', 'failed'] });
    const none = await storedCall(null);
    const { sent, post } = receiver();
    const record = (await filtered.store.get(filtered.callId))!;
    expect(await notifyStateChange(record, { from: 'dialing', to: 'streaming' }, deps(filtered.store, post))).toBe(
      'skipped',
    );
    expect(
      await notifyStateChange(
        { ...record, state: 'ended' },
        { from: 'streaming', to: 'ended' },
        deps(filtered.store, post),
      ),
    ).toBe('delivered');
    expect(
      await notifyStateChange((await none.store.get(none.callId))!, { to: 'dialing' }, deps(none.store, post)),
    ).toBe('skipped');
    expect(sent.map((s) => JSON.parse(s.body).state)).toEqual(['ended']);
  });

  it('keeps the delivery log bounded', async () => {
    const { store, callId } = await storedCall();
    const { post } = receiver();
    for (let i = 0; i < DELIVERY_LOG_LIMIT + 5; i++)
      await notifyStateChange((await store.get(callId))!, { to: 'dialing' }, deps(store, post));
    expect((await store.get(callId))!.deliveries).toHaveLength(DELIVERY_LOG_LIMIT);
  });
});

describe('StatusNotifier (local mode queue)', () => {
  it('delivers the changes of one call in the order they were applied, even while the first is being retried', async () => {
    const { store, callId } = await storedCall();
    const { sent, post } = receiver([503, 'down', 200]);
    // Real (tiny) waits so that later changes are queued while the first one is still retrying.
    const notifier = new StatusNotifier({
      ...deps(store, post),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms / 1000)),
    });
    notifier.enqueue((await store.get(callId))!, { to: 'dialing' });
    for (const [seq, type] of [
      [1, 'ringing'],
      [2, 'answered'],
      [3, 'streaming'],
    ] as const) {
      notifier.enqueueEffects(await recordEvent(store, { type, callId, seq, at: NOW.toISOString() }));
    }
    notifier.enqueueEffects(
      await recordEvent(store, {
        type: 'ended',
        callId,
        seq: 4,
        at: NOW.toISOString(),
        by: 'remote',
        reason: 'bye',
        durationSeconds: 3,
      }),
    );
    await notifier.drain();
    const states = sent.map((s) => JSON.parse(s.body) as { state: string; sequence: number });
    expect(states.map((s) => s.state)).toEqual([
      'dialing',
      'dialing',
      'dialing',
      'ringing',
      'answered',
      'streaming',
      'ended',
    ]);
    const sequences = states.slice(2).map((s) => s.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  });
});
