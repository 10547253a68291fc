import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EventBridgePublisher,
  EventPublishError,
  STATE_EVENT_DETAIL_TYPE,
  STATE_EVENT_SOURCE,
} from '../../shared/aws/eventbridge-publisher.ts';
import type { StateEvent } from '../../shared/call-types.ts';
import { EventReporter } from '../../media-task/events/event-reporter.ts';
import { eventBridgeEventSink } from '../../media-task/events/eventbridge-event-sink.ts';

const ebMock = mockClient(EventBridgeClient);
afterEach(() => ebMock.reset());

const event: StateEvent = {
  type: 'ended',
  by: 'remote',
  reason: 'BYE',
  durationSeconds: 42,
  callId: 'call-1',
  seq: 7,
  at: '2026-11-23T18:05:25.120Z',
};
const accepted = { FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] };

function publisher() {
  const sleeps: number[] = [];
  const instance = new EventBridgePublisher({
    client: new EventBridgeClient({ region: 'eu-west-1' }),
    eventBusName: 'gw-calls',
    retry: { sleep: async (ms) => void sleeps.push(ms), random: () => 1 },
  });
  return { instance, sleeps };
}

describe('EventBridgePublisher', () => {
  it('puts one entry on the bus with the source and detail-type the rule matches', async () => {
    ebMock.on(PutEventsCommand).resolves(accepted);
    await publisher().instance.publish(event);
    expect(ebMock.commandCalls(PutEventsCommand)[0]!.args[0].input).toEqual({
      Entries: [
        {
          EventBusName: 'gw-calls',
          Source: STATE_EVENT_SOURCE,
          DetailType: STATE_EVENT_DETAIL_TYPE,
          Detail: JSON.stringify(event),
          Time: new Date('2026-11-23T18:05:25.120Z'),
        },
      ],
    });
  });

  it('retries with backoff when the request is throttled', async () => {
    ebMock
      .on(PutEventsCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves(accepted);
    const { instance, sleeps } = publisher();
    await instance.publish(event);
    expect(ebMock.commandCalls(PutEventsCommand)).toHaveLength(2);
    expect(sleeps).toEqual([100]);
  });

  it('retries an entry refused for throttling inside a 200 answer', async () => {
    ebMock
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }] })
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] })
      .resolves(accepted);
    const { instance, sleeps } = publisher();
    await instance.publish(event);
    expect(ebMock.commandCalls(PutEventsCommand)).toHaveLength(3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('does not retry an entry refused for good, and says why', async () => {
    ebMock.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'AccessDeniedException', ErrorMessage: 'not allowed' }],
    });
    const error = await publisher()
      .instance.publish(event)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventPublishError);
    expect(error).toMatchObject({ callId: 'call-1', errorCode: 'AccessDeniedException' });
    expect(ebMock.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('is the media task sink: the reporter publishes events in seq order', async () => {
    const details: StateEvent[] = [];
    ebMock.on(PutEventsCommand).callsFake((input: { Entries: { Detail: string }[] }) => {
      details.push(JSON.parse(input.Entries[0]!.Detail) as StateEvent);
      return accepted;
    });
    const reporter = new EventReporter('call-9', eventBridgeEventSink(publisher().instance), (error) => {
      throw error;
    });
    void reporter.report({ type: 'dialing' });
    void reporter.report({ type: 'ringing' });
    await reporter.flushed();
    expect(details.map((d) => [d.type, d.seq, d.callId])).toEqual([
      ['dialing', 1, 'call-9'],
      ['ringing', 2, 'call-9'],
    ]);
  });
});
