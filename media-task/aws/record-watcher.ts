/**
 * The AWS task's ear on the control plane: every ~2 s it reads the call's item for a hang-up request
 * (`desired: ended`, or a final state written by someone else, e.g. the reconciler) and for queued DTMF commands.
 * Polling needs no inbound port and no per-call queue; at 0.5 strongly consistent reads per second it costs
 * about $0.0005 per call-hour on on-demand DynamoDB. StopTask's SIGTERM is the faster path for a hang-up; this
 * one covers a StopTask that was lost.
 */
import { isFinal, type TaskCommand } from '../../shared/call-types.ts';
import { parseTaskCommand } from '../../shared/task-messages.ts';
import type { CallStore } from '../../shared/call-store.ts';
import type { Logger } from '../../shared/log.ts';

export const DEFAULT_POLL_MS = 2_000;

/** What the watcher drives: `CallRunner`'s control surface. */
export interface WatchedCall {
  hangup(): void;
  command(command: TaskCommand): void;
}

export interface RecordWatcherOptions {
  callId: string;
  store: Pick<CallStore, 'get'>;
  mailbox: { read(callId: string): Promise<unknown[]> };
  call: WatchedCall;
  logger: Logger;
  pollMs?: number;
}

export class RecordWatcher {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private hungUp = false;
  /** The mailbox is append-only: commands before this index have been run. */
  private handled = 0;

  constructor(private readonly options: RecordWatcherOptions) {}

  /** Polls now, then every `pollMs` until `stop()`. */
  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One poll; exposed for tests. Never throws: a failed read is logged and the next poll tries again. */
  async poll(): Promise<void> {
    const { callId, store, mailbox, call, logger } = this.options;
    try {
      const [record, commands] = await Promise.all([store.get(callId), mailbox.read(callId)]);
      if (this.stopped) return;
      for (const raw of commands.slice(this.handled)) {
        this.handled++;
        const command = parseTaskCommand(raw);
        if (!command.ok) {
          logger.error('invalid task command ignored', { problem: command.problem });
          continue;
        }
        logger.info('command from the control plane', { type: command.value.type });
        call.command(command.value);
      }
      const wantsEnd = !record || record.desired === 'ended' || isFinal(record.state);
      if (wantsEnd && !this.hungUp) {
        this.hungUp = true;
        logger.info('hang-up requested through the call record', { desired: record?.desired, state: record?.state });
        call.hangup();
      }
    } catch (error) {
      logger.warn('could not read the call record', { error });
    }
  }

  private async tick(): Promise<void> {
    await this.poll();
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.options.pollMs ?? DEFAULT_POLL_MS);
    // The call's own sockets and timers keep the process alive; the watcher must not.
    this.timer.unref();
  }
}
