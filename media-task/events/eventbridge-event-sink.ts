import type { StateEvent } from '../../shared/call-types.ts';
import type { EventSink } from './event-reporter.ts';

/**
 * The AWS sink: the task's events go through the control plane's EventBridge adapter
 * (shared/aws/eventbridge-publisher.ts), so source, detail-type and retries are defined in one place.
 */
export function eventBridgeEventSink(publisher: { publish(event: StateEvent): Promise<void> }): EventSink {
  return (event) => publisher.publish(event);
}
