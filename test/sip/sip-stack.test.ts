import { describe, expect, it } from 'vitest';
import { SipHeaderError } from '../../media-task/sip/sip-errors.ts';
import { assertSafe } from '../../media-task/sip/sip-stack.ts';
import { escapeUser } from '../../media-task/sip/sip-call.ts';
import { freePort } from '../support/free-port.ts';
import { callTo, next } from './call-helpers.ts';

describe('header safety', () => {
  it.each([
    ['CR LF in a string header', { extra: { subject: 'hi\r\nX-Evil: 1' } }, 'header.extra.subject'],
    ['LF in an address parameter', { from: { uri: 'sip:a@b', params: { tag: 'x\ny' } } }, 'header.from.params.tag'],
    ['NUL in a route', { route: [{ uri: 'sip:p\0@b', params: {} }] }, 'header.route[0].uri'],
  ])('%s is refused before sending', (_name, headers, path) => {
    expect(() => assertSafe(headers)).toThrow(SipHeaderError);
    try {
      assertSafe(headers);
    } catch (error) {
      expect(error).toMatchObject({ name: 'SipHeaderError', header: path });
    }
  });

  it('plain values pass', () => {
    expect(() =>
      assertSafe({ extra: { subject: 'a b; c=d' }, from: { uri: 'sip:a@b', params: { tag: null } } }),
    ).not.toThrow();
  });

  it.each([
    ['alice', 'alice'],
    ['+15551234567', '+15551234567'],
    ['a b', 'a%20b'],
    ['x\r\nVia: evil', 'x%0D%0AVia%3A%20evil'],
    ['é', '%C3%A9'],
  ])('user part %j is escaped to %j (RFC 3261 section 25.1)', (user, escaped) => {
    expect(escapeUser(user)).toBe(escaped);
  });

  it('a domain with CR/LF makes the call fail (internal) instead of throwing or sending', async () => {
    const port = await freePort();
    const call = callTo({ port }, { from: { user: 'alice', domain: 'example.com\r\nX-Evil: 1' } });
    const [failed] = await next(call, 'failed', 5000);
    expect(failed).toMatchObject({ reason: 'internal' });
    expect(failed.message).toMatch(/SipHeaderError/);
    await call.hangup();
  });

  it('a request whose next hop is a metadata address is not sent, and the call fails at once', async () => {
    // What a name the API resolved to a public address could resolve to by the time the task sends.
    const call = callTo({ port: 5060 }, { target: { user: 'bob', host: '169.254.169.254', port: 5060 } });
    // Sent, the INVITE would wait out its 32 s transaction timeout.
    const [failed] = await next(call, 'failed', 3000);
    expect(failed).toMatchObject({ reason: 'sip' });
    expect(failed.message).toBe(
      'could not reach the SIP peer: 169.254.169.254 is a link-local or cloud metadata address',
    );
    await call.hangup();
  });
});
