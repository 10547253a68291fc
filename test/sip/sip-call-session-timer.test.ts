import { describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { SippPeer } from '../support/sipp.ts';
import { callTo, next } from './call-helpers.ts';

const header = (message: string, name: string) => new RegExp(`^${name}: *(.*?)\\r?$`, 'mi').exec(message)?.[1];
const body = (message: string) =>
  message
    .split(/\r?\n\r?\n/)
    .slice(1)
    .join('\n\n')
    .trim();

describe('RFC 4028 session timers (sipp UAS)', () => {
  const { owned, defer } = useCleanup();

  /** A call to a sipp running `scenario`, once answered; hung up when the test ends. */
  async function answeredCall(scenario: string) {
    const peer = owned(await SippPeer.start({ scenario }));
    const call = callTo(peer);
    defer(() => call.hangup());
    await next(call, 'answered');
    return { peer, call };
  }

  it('422 with Min-SE 1800: the INVITE is retried once with Session-Expires and Min-SE 1800, and answered', async () => {
    const { peer, call } = await answeredCall('session-interval-too-small.xml');
    const ended = next(call, 'ended');
    await call.hangup();
    expect((await ended)[0]).toMatchObject({ by: 'local', reason: 'hangup' });
    expect((await peer.finished()).code, await peer.errors()).toBe(0);
    const [first, retry] = await peer.received('INVITE ');
    expect(header(first!, 'Session-Expires')).toBeUndefined();
    expect(header(retry!, 'CSeq')).toBe('2 INVITE');
    expect(header(retry!, 'Call-ID')).toBe(header(first!, 'Call-ID'));
    expect(header(retry!, 'From')).toBe(header(first!, 'From'));
  });

  it('refresher=uac makes us refresh at half the interval; refresher=uas or no Session-Expires stops us', async () => {
    const { peer, call } = await answeredCall('session-refresh.xml');
    const [ended] = await next(call, 'ended', 25_000);
    expect(ended).toEqual({ by: 'remote', reason: 'bye' });
    expect((await peer.finished()).code, await peer.errors()).toBe(0);
    const invites = await peer.receivedTimed('INVITE ');
    const acks = await peer.receivedTimed('ACK ');
    const updateAnswer = (await peer.receivedTimed('SIP/2.0 200')).find(({ message }) =>
      /^CSeq: *1 UPDATE/m.test(message),
    );
    expect(invites).toHaveLength(3);
    // Half of the 4 s interval after the answer, and again after the UPDATE made us the refresher.
    expect(invites[1]!.at - acks[0]!.at).toBeGreaterThanOrEqual(1800);
    expect(invites[1]!.at - acks[0]!.at).toBeLessThan(2800);
    expect(invites[2]!.at - updateAnswer!.at).toBeGreaterThanOrEqual(1800);
    expect(invites[2]!.at - updateAnswer!.at).toBeLessThan(2800);
    // A refresh offers the SDP we last sent, unchanged, version included (RFC 3264 section 8).
    expect(body(invites[1]!.message)).toBe(body(invites[0]!.message));
    expect(body(invites[2]!.message)).toBe(body(invites[0]!.message));
    expect(header(invites[1]!.message, 'To')).toMatch(/;tag=\w*SIPpTag01/);
  });

  it('a refused refresh: 422 raises the interval, 491 waits 2.1 to 4 s and tries again, 481 ends the call with a BYE', async () => {
    const { peer, call } = await answeredCall('session-refresh-refused.xml');
    const [ended] = await next(call, 'ended', 15_000);
    expect(ended).toEqual({ by: 'local', reason: 'session-refresh-failed', sipCode: 481 });
    expect((await peer.finished()).code, await peer.errors()).toBe(0);
    const invites = await peer.receivedTimed('INVITE ');
    const glare = (await peer.receivedTimed('ACK ')).find(({ message }) => header(message, 'CSeq') === '3 ACK');
    expect(invites.map(({ message }) => header(message, 'CSeq'))).toEqual([
      '1 INVITE',
      '2 INVITE',
      '3 INVITE',
      '4 INVITE',
    ]);
    expect(invites[3]!.at - glare!.at).toBeGreaterThanOrEqual(2000);
    expect(invites[3]!.at - glare!.at).toBeLessThan(4500);
    expect(body(invites[3]!.message)).toBe(body(invites[0]!.message));
  });
});
