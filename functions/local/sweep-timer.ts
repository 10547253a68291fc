/**
 * The local server's sweeper schedule (on AWS an EventBridge rule runs it): one sweep, then the interval, then
 * the next, so two sweeps never overlap however slow one is. A failed sweep is logged and the next one runs.
 */
import type { Logger } from '../core/ports.ts';

export interface SweepTimerOptions {
  intervalMs: number;
  run: () => Promise<unknown>;
  logger: Logger;
}

export class SweepTimer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: SweepTimerOptions) {
    this.schedule();
  }

  /** Stops the schedule; resolves once a sweep in progress has finished. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.running = this.options
        .run()
        .then(
          () => undefined,
          (error: unknown) => this.options.logger.error('sweep failed', { error }),
        )
        .finally(() => this.schedule());
    }, this.options.intervalMs);
    // The schedule alone never keeps the server alive.
    this.timer.unref();
  }
}
