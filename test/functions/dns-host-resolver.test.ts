import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemDnsResolver } from '../../functions/adapters/dns-host-resolver.ts';

describe('systemDnsResolver', () => {
  afterEach(() => vi.useRealTimers());

  it('answers with what the system resolver gives, /etc/hosts included', async () => {
    expect(await systemDnsResolver()('localhost')).toContain('127.0.0.1');
  });

  it('answers with every address of the name, in the order given', async () => {
    const resolve = systemDnsResolver(async () => [{ address: '203.0.113.1' }, { address: '169.254.169.254' }]);
    expect(await resolve('two.example.test')).toEqual(['203.0.113.1', '169.254.169.254']);
  });

  it('answers with no address when the lookup fails', async () => {
    const resolve = systemDnsResolver(async () =>
      Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })),
    );
    expect(await resolve('missing.example.test')).toEqual([]);
  });

  it('answers with no address when the lookup takes more than 2 s', async () => {
    vi.useFakeTimers();
    const resolve = systemDnsResolver(() => new Promise(() => {}));
    const answer = resolve('slow.example.test');
    await vi.advanceTimersByTimeAsync(1_999);
    let settled = false;
    void answer.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await answer).toEqual([]);
  });
});
