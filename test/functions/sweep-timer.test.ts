/** The local server's sweep schedule (functions/local/sweep-timer.ts): never two sweeps at once, a failure logged, close waits. */
import { describe, expect, it } from 'vitest';
import { SweepTimer } from '../../functions/local/sweep-timer.ts';
import type { Logger } from '../../functions/core/ports.ts';

function recordingLogger() {
  const errors: string[] = [];
  const logger: Logger = { info: () => {}, warn: () => {}, error: (message) => void errors.push(message) };
  return { logger, errors };
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('SweepTimer', () => {
  it('runs one sweep at a time, goes on after a failed one, and close() waits for the sweep in progress', async () => {
    const { logger, errors } = recordingLogger();
    let running = 0;
    let most = 0;
    let runs = 0;
    let finished = 0;
    const timer = new SweepTimer({
      intervalMs: 1,
      logger,
      run: async () => {
        runs++;
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        finished++;
        if (runs === 1) throw new Error('store unavailable');
      },
    });
    await until(() => runs >= 3);
    await timer.close();
    expect(running).toBe(0);
    expect(finished).toBe(runs);
    expect(most).toBe(1);
    expect(errors).toEqual(['sweep failed']);
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(runs).toBe(after);
    await timer.close();
  });
});
