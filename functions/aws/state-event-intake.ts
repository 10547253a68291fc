/**
 * The recorder Lambda's logic: an EventBridge event from a media task → `recordEvent`, the same recorder local
 * mode feeds from task stdout, then the status callbacks of the changes it made. Delivery is at-least-once and
 * unordered; `recordEvent` is idempotent and orders by `seq`, and a redelivered event changes nothing, so its
 * callbacks are not sent twice. A malformed event throws, so Lambda's retries and then the DLQ keep it for
 * inspection instead of dropping it silently. An event is recorded only when the task that sent it (its ARN,
 * beside the event) is the call's recorded task. The API's hand-offs (functions/aws/status-callbacks.ts) arrive here
 * too: they are delivered as they are.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import type { StateEvent } from '../../shared/call-types.ts';
import { parseStateEvent } from '../../shared/task-messages.ts';
import type { Pricing } from '../core/call-usage.ts';
import type { CallStore, Logger } from '../core/ports.ts';
import { recordEvent } from '../recorder.ts';
import { countFailures, type MetricSink } from './metrics.ts';
import { notifyStateChange } from '../webhooks/status-notifier.ts';
import { deliverStatusCallbacks, isRelayedChange, parseRelayedChange } from './status-callbacks.ts';

export class MalformedStateEventError extends Error {
  override readonly name = 'MalformedStateEventError';
  constructor(
    message: string,
    readonly eventId: string,
  ) {
    super(message);
  }
}

export interface RecorderHandlerDeps {
  store: CallStore;
  logger: Logger;
  statusSigningKey: string;
  /** Prices the usage in status callbacks (functions/pricing-config.ts). */
  pricing: Pricing;
  /** Counts the failures recorded (FailedCalls). */
  metrics?: MetricSink;
}

export function createRecorderHandler({ store, logger, statusSigningKey, pricing, metrics }: RecorderHandlerDeps) {
  const notifyDeps = { store, logger, signingKey: statusSigningKey, pricing };
  return async (event: EventBridgeEvent<string, unknown>): Promise<void> => {
    if (isRelayedChange(event)) {
      const relayed = parseRelayedChange(event);
      if ('problem' in relayed)
        throw new MalformedStateEventError(
          `event ${event.id} is not a status callback hand-off: ${relayed.problem}`,
          event.id,
        );
      await notifyStateChange(relayed.record, relayed.change, notifyDeps);
      return;
    }
    const stateEvent = stateEventOf(event);
    // Any task may put events on the bus under the tasks' source: only the call's own task is listened to.
    const result = await recordEvent(store, stateEvent, { fromTask: senderTask(event) });
    const fields = { callId: stateEvent.callId, type: stateEvent.type, seq: stateEvent.seq, eventId: event.id };
    if (result.applied) logger.info('state event recorded', { ...fields, state: result.record?.state });
    else logger.info('state event ignored', { ...fields, why: result.ignored });
    countFailures(metrics, result);
    await deliverStatusCallbacks(result, notifyDeps);
  };
}

/** The ARN the sending task put beside its event (media-task/aws/aws-mode.ts); '' when there is none. */
function senderTask(event: EventBridgeEvent<string, unknown>): string {
  const taskArn = (event.detail as { taskArn?: unknown } | null)?.taskArn;
  return typeof taskArn === 'string' && taskArn.startsWith('arn:') ? taskArn : '';
}

/** The task's event, parsed with the schema the local launcher reads task stdout with (shared/task-messages.ts). */
function stateEventOf(event: EventBridgeEvent<string, unknown>): StateEvent {
  const parsed = parseStateEvent(event.detail);
  if (!parsed.ok)
    throw new MalformedStateEventError(`event ${event.id} is not a state event: ${parsed.problem}`, event.id);
  return parsed.value;
}
