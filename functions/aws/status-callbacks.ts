/**
 * Status callbacks on AWS (docs/webhooks.md). The recorder and reconciler Lambdas await the deliveries of the
 * changes they record. The API Lambda does not: a delivery may retry for ~90 s, longer than an API request may
 * take, and `CallService.start` awaits its listener before launching the task. It hands its own changes (the
 * first `dialing`, a launch failure) to the recorder through the gateway's bus instead, under its own `source`,
 * which only the API role may put (infra/gateway-stack.ts): a media task cannot make the gateway sign a payload.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { EventBridgeEvent } from 'aws-lambda';
import * as z from 'zod';
import type { StateChangeListener } from '../app/call-service.ts';
import type { CallRecord, Logger } from '../core/ports.ts';
import type { RecordResult } from '../recorder.ts';
import {
  notifyStateChange,
  wantsNotification,
  type NotifyDeps,
  type StateChange,
} from '../webhooks/status-notifier.ts';
import { withBackoff } from '../../shared/aws/aws-retry.ts';

/** `source` and `detail-type` of the API's hand-offs; the CDK rule and the task role's deny match on them. */
export const STATUS_CALLBACK_SOURCE = 'sip-rtmp-gateway.api';
export const STATUS_CALLBACK_DETAIL_TYPE = 'Status Callback Requested';

/** Awaits the callbacks of one recorder result, in effect order. Never throws (notifyStateChange does not). */
export async function deliverStatusCallbacks(result: RecordResult, deps: NotifyDeps): Promise<void> {
  for (const effect of result.effects)
    if (effect.type === 'state-changed' && result.record) await notifyStateChange(result.record, effect, deps);
}

export interface StatusCallbackRelayOptions {
  client: EventBridgeClient;
  eventBusName: string;
  logger: Logger;
}

/**
 * The API's `onStateChange`: one event per change that its call asked to hear about. A failed hand-off costs that
 * callback only (logged), never the call, like a failed delivery.
 */
export function statusCallbackRelay({ client, eventBusName, logger }: StatusCallbackRelayOptions): StateChangeListener {
  return async (record, change) => {
    if (!wantsNotification(record, change)) return;
    const command = new PutEventsCommand({
      Entries: [
        {
          EventBusName: eventBusName,
          Source: STATUS_CALLBACK_SOURCE,
          DetailType: STATUS_CALLBACK_DETAIL_TYPE,
          Detail: JSON.stringify({ record, change }),
        },
      ],
    });
    try {
      await withBackoff(async () => {
        const response = await client.send(command);
        if (response.FailedEntryCount)
          throw Object.assign(
            new Error(`PutEvents refused the entry: ${response.Entries?.[0]?.ErrorCode ?? 'no error code'}`),
            { $retryable: {} },
          );
      });
    } catch (error) {
      logger.warn('status callback could not be handed to the recorder', {
        callId: record.callId,
        state: change.to,
        error,
      });
    }
  };
}

const states = z.enum(['dialing', 'ringing', 'answered', 'streaming', 'ended', 'failed']);
/** Enough of the record to address and sign the callback; the rest is the payload's `call` view as the API saw it. */
const relayedSchema = z.object({
  record: z.looseObject({
    callId: z.string().min(1),
    version: z.number().int(),
    statusCallback: z.object({ url: z.string() }),
  }),
  change: z.object({ from: states.optional(), to: states }),
});

export function isRelayedChange(event: EventBridgeEvent<string, unknown>): boolean {
  return event.source === STATUS_CALLBACK_SOURCE && event['detail-type'] === STATUS_CALLBACK_DETAIL_TYPE;
}

/** The hand-off in `event`, or the schema's complaint. */
export function parseRelayedChange(
  event: EventBridgeEvent<string, unknown>,
): { record: CallRecord; change: StateChange } | { problem: string } {
  const parsed = relayedSchema.safeParse(event.detail);
  if (!parsed.success) return { problem: parsed.error.message };
  return { record: parsed.data.record as unknown as CallRecord, change: parsed.data.change };
}
