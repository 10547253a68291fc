/**
 * Status callbacks: every state change of a call that asked for them is POSTed as JSON to its `statusCallback`,
 * signed (functions/webhooks/signature.ts), retried with exponential backoff, and each attempt is appended to the
 * record's `deliveries`.
 *
 * Where it runs: locally, `StatusNotifier` queues the recorder's `state-changed` effects per call so they go out
 * one after another in the order they were applied; on AWS the recorder Lambda awaits `notifyStateChange` for each
 * effect. Lambda invocations for one call may overlap, so every payload carries `sequence` (the record version the
 * change produced, increasing per call) and receivers order by it (docs/webhooks.md).
 */
import { guardedPost, type PostJson } from '../adapters/guarded-post.ts';
import { ConcurrentUpdateError } from '../../shared/call-errors.ts';
import { toCallView } from '../core/call-record.ts';
import type { Pricing } from '../core/call-usage.ts';
import type { Effect } from '../core/call-state.ts';
import type { CallState } from '../../shared/call-types.ts';
import type { CallRecord, CallStore, DeliveryLogEntry, Logger } from '../core/ports.ts';
import { SIGNATURE_HEADER, signBody } from './signature.ts';

/** The `state-changed` effect of functions/core/call-state.ts fits; `from` is absent for a call just created. */
export interface StateChange {
  from?: CallState;
  to: CallState;
}

export interface NotifyDeps {
  store: CallStore;
  signingKey: string;
  logger: Logger;
  /** Prices the usage in the call view a final state's callback carries. */
  pricing: Pricing;
  /** Default: guardedPost(), which refuses metadata addresses at connect time. */
  post?: PostJson;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export const DELIVERY_HEADER = 'X-Gateway-Delivery';
/** Waits before attempts 2..6: about 31 s in all, well inside the signature tolerance and a Lambda's time. */
export const RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000];
const ATTEMPT_TIMEOUT_MS = 10_000;
/** Deliveries kept on the record: DynamoDB items are capped at 400 KB. */
export const DELIVERY_LOG_LIMIT = 50;

/** The JSON body of one status callback. */
export function statusPayload(record: CallRecord, change: StateChange, pricing: Pricing) {
  return {
    type: 'call.state' as const,
    callId: record.callId,
    state: change.to,
    previousState: change.from ?? null,
    sequence: record.version,
    at: record.stateTimes[change.to] ?? record.updatedAt,
    call: toCallView(record, pricing),
  };
}

export function wantsNotification(record: CallRecord, change: StateChange): boolean {
  const target = record.statusCallback;
  return target !== undefined && (target.events === undefined || target.events.includes(change.to));
}

/**
 * Delivers one state change with retries. Never throws: a receiver that stays down costs its own deliveries, not
 * the recorder's write.
 * @param record the record as the change left it.
 */
export async function notifyStateChange(
  record: CallRecord,
  change: StateChange,
  deps: NotifyDeps,
): Promise<'skipped' | 'delivered' | 'failed'> {
  if (!wantsNotification(record, change)) return 'skipped';
  const url = record.statusCallback!.url;
  const post = deps.post ?? (defaultPost ??= guardedPost());
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const body = JSON.stringify(statusPayload(record, change, deps.pricing));
  const sequence = record.version;
  // Only the origin is logged: a callback URL's path or query may carry the receiver's own token.
  const logFields = { callId: record.callId, state: change.to, sequence, target: new URL(url).origin };

  for (let attempt = 1; ; attempt++) {
    let httpStatus: number | undefined;
    let error: string | undefined;
    try {
      httpStatus = await post(url, {
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sip-rtmp-gateway',
          [SIGNATURE_HEADER]: signBody(deps.signingKey, body, Math.floor(now().getTime() / 1000)),
          [DELIVERY_HEADER]: `${record.callId}:${sequence}`,
        },
        body,
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    }
    const delivered = httpStatus !== undefined && httpStatus >= 200 && httpStatus < 300;
    const retry = !delivered && attempt <= RETRY_DELAYS_MS.length && retryable(httpStatus);
    const outcome = delivered ? 'delivered' : retry ? 'retrying' : 'failed';
    const entry: DeliveryLogEntry = {
      state: change.to,
      sequence,
      attempt,
      at: now().toISOString(),
      outcome,
      ...(httpStatus === undefined ? {} : { httpStatus }),
      ...(error === undefined ? {} : { error: error.slice(0, 200) }),
    };
    await appendDelivery(deps.store, record.callId, entry).catch((cause: unknown) =>
      deps.logger.warn('could not log a delivery on the call record', { ...logFields, error: cause }),
    );
    if (delivered) {
      deps.logger.info('status callback delivered', { ...logFields, attempt, httpStatus });
      return 'delivered';
    }
    if (!retry) {
      deps.logger.warn('status callback failed', { ...logFields, attempt, httpStatus, error });
      return 'failed';
    }
    await sleep(RETRY_DELAYS_MS[attempt - 1]!);
  }
}

/** Network errors, timeouts, 408, 429 and 5xx may pass; another 4xx (or a 3xx) is the receiver's final answer. */
let defaultPost: PostJson | undefined;

function retryable(httpStatus: number | undefined): boolean {
  return httpStatus === undefined || httpStatus === 408 || httpStatus === 429 || httpStatus >= 500;
}

/** Appends to the record's delivery log with a conditional write, re-reading when the recorder wrote first. */
export async function appendDelivery(store: CallStore, callId: string, entry: DeliveryLogEntry): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = await store.get(callId);
    if (!current) return;
    const deliveries = [...(current.deliveries ?? []), entry].slice(-DELIVERY_LOG_LIMIT);
    try {
      await store.update({ ...current, deliveries }, current.version);
      return;
    } catch (error) {
      if (!(error instanceof ConcurrentUpdateError) || attempt >= 8) throw error;
    }
  }
}

/**
 * Local mode's queue: one chain of deliveries per call, so a retrying delivery holds back the later states of
 * the same call (and only of that call).
 */
export class StatusNotifier {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: NotifyDeps) {}

  /** Queues the change behind earlier ones of the same call; returns at once. */
  enqueue(record: CallRecord, change: StateChange): void {
    if (!wantsNotification(record, change)) return;
    const callId = record.callId;
    const next = (this.queues.get(callId) ?? Promise.resolve())
      .then(() => notifyStateChange(record, change, this.deps))
      .finally(() => {
        if (this.queues.get(callId) === next) this.queues.delete(callId);
      });
    this.queues.set(callId, next);
  }

  /** Queues the `state-changed` effects of one recorder result (`recordEvent`'s answer). */
  enqueueEffects(result: { record?: CallRecord; effects: Effect[] }): void {
    for (const effect of result.effects)
      if (effect.type === 'state-changed' && result.record) this.enqueue(result.record, effect);
  }

  /** Resolves once every queued delivery has finished (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.queues.size > 0) await Promise.allSettled([...this.queues.values()]);
  }
}
