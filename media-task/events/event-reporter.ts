import type { StateEvent, StateEventBody } from '../../shared/call-types.ts';

/** Where a task's state events go: EventBridge on AWS, stdout (read by the local launcher) locally. */
export type EventSink = (event: StateEvent) => Promise<void>;

/**
 * Stamps each event of one call with the next sequence number and the time, and hands it to the sink in order.
 * The control plane orders by `seq`, not by arrival, so a sink may deliver late or twice.
 */
export class EventReporter {
  private seq = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly callId: string,
    private readonly sink: EventSink,
    private readonly onSinkError: (error: unknown) => void,
  ) {}

  report(body: StateEventBody): Promise<void> {
    const event = { ...body, callId: this.callId, seq: ++this.seq, at: new Date().toISOString() } as StateEvent;
    this.chain = this.chain.then(() => this.sink(event)).catch(this.onSinkError);
    return this.chain;
  }

  /** Resolves once every event reported so far has been handed over. */
  flushed(): Promise<void> {
    return this.chain;
  }
}

/** The local sink: one JSON event per line on stdout, which the local launcher parses. */
export const stdoutEventSink: EventSink = (event) =>
  new Promise((resolve, reject) =>
    process.stdout.write(JSON.stringify(event) + '\n', (error) => (error ? reject(error) : resolve())),
  );
