import { describe, expect, it } from 'vitest';
import { resolveWithSystemDns } from '../../functions/adapters/dns-host-resolver.ts';

describe('resolveWithSystemDns', () => {
  it('answers with what the system resolver gives, /etc/hosts included', async () => {
    expect(await resolveWithSystemDns('localhost')).toContain('127.0.0.1');
  });

  it('answers with no address for a name that cannot exist (RFC 6761 .invalid)', async () => {
    expect(await resolveWithSystemDns('no-such-host.invalid')).toEqual([]);
  });
});
