import { afterEach } from 'vitest';

/**
 * Registers an afterEach that closes, newest first, everything a test opened through `owned` or `defer`, so a
 * failing assertion never leaves a peer, task or server running.
 */
export function useCleanup() {
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  return {
    owned<T extends { close(): Promise<unknown> }>(resource: T): T {
      closers.push(() => resource.close());
      return resource;
    },
    defer(close: () => Promise<unknown>): void {
      closers.push(close);
    },
  };
}
