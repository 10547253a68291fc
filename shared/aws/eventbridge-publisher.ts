/**
 * `EventSink` over EventBridge PutEvents: media tasks publish their state events on the gateway's custom bus, and
 * a rule delivers them to the recorder Lambda. EventBridge delivers at least once and in no set order; the
 * recorder's seq rules (functions/core/call-state.ts) make that harmless.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { StateEvent } from '../call-types.ts';
import type { EventSink } from '../call-store.ts';
import { withBackoff, type RetryOptions } from './aws-retry.ts';

/** `source` and `detail-type` of state events; the CDK rule matches on the same constants. */
export const STATE_EVENT_SOURCE = 'sip-rtmp-gateway.media-task';
export const STATE_EVENT_DETAIL_TYPE = 'Call State Event';

/** PutEvents accepted the request but refused the entry. */
export class EventPublishError extends Error {
  override readonly name = 'EventPublishError';
  constructor(
    message: string,
    readonly callId: string,
    readonly errorCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface EventBridgePublisherOptions {
  client: EventBridgeClient;
  eventBusName: string;
  /** The publishing task's ARN, sent with each event: the recorder drops a call's events from any other task. */
  taskArn?: string;
  retry?: RetryOptions;
}

export class EventBridgePublisher implements EventSink {
  constructor(private readonly options: EventBridgePublisherOptions) {}

  async publish(event: StateEvent): Promise<void> {
    const { client, eventBusName, taskArn, retry } = this.options;
    const detail = taskArn ? { ...event, taskArn } : event;
    const command = new PutEventsCommand({
      Entries: [
        {
          EventBusName: eventBusName,
          Source: STATE_EVENT_SOURCE,
          DetailType: STATE_EVENT_DETAIL_TYPE,
          Detail: JSON.stringify(detail),
          Time: new Date(event.at),
        },
      ],
    });
    await withBackoff(async () => {
      const response = await client.send(command);
      const entry = response.Entries?.[0];
      if (!response.FailedEntryCount && entry?.EventId) return;
      // A refused entry is reported in the response, with a 200: throttling and internal failures there are
      // worth another try like the same errors thrown by the SDK.
      const code = entry?.ErrorCode;
      const error = new EventPublishError(
        `PutEvents refused the ${event.type} event: ${code ?? 'no error code'} ${entry?.ErrorMessage ?? ''}`.trim(),
        event.callId,
        code,
      );
      throw code === 'ThrottlingException' || code === 'InternalFailure'
        ? Object.assign(error, { $retryable: {} })
        : error;
    }, retry);
  }
}
