import { describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { SippPeer } from '../support/sipp.ts';
import { freePort } from '../support/free-port.ts';
import { UdpRelay } from '../support/udp-relay.ts';
import { callTo, next } from './call-helpers.ts';

/** A call to a 127.0.0.1 port nobody listens on: the INVITE gets no response, ever. */
const startSipCallTo = (port: number, overrides = {}) => callTo({ port } as SippPeer, overrides);

describe('SIP call against a sipp UAS over UDP', () => {
  const { owned, defer } = useCleanup();

  it('answer with PCMU: answered carries the stream, hangup sends BYE, the scenario passes', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'answer-pcmu.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    const ringing = next(call, 'ringing');
    ringing.catch(() => {});
    const [media] = await next(call, 'answered');
    await ringing;
    expect(media.audio).toEqual({
      kind: 'audio',
      remoteAddress: '127.0.0.1',
      remotePort: 6000,
      payloadType: 0,
      codec: 'PCMU',
      clockRate: 8000,
      channels: 1,
      peerDirection: 'sendrecv',
      telephoneEvent: { payloadType: 101, clockRate: 8000 },
    });
    const ended = next(call, 'ended');
    await call.hangup();
    expect((await ended)[0]).toEqual({ by: 'local', reason: 'hangup', sipCode: 200 });
    expect((await peer.finished()).code).toBe(0);
    const log = await peer.messages();
    expect(log).toMatch(/INVITE sip:service@127\.0\.0\.1:\d+ SIP\/2\.0/);
    expect(log).toMatch(/Via: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK\w+;rport/);
    expect(log).toMatch(/ACK sip:sipp@127\.0\.0\.1:\d+;transport=UDP SIP\/2\.0/);
    expect(log).toMatch(/BYE sip:sipp@127\.0\.0\.1:\d+;transport=UDP SIP\/2\.0/);
    expect(log).toMatch(/m=audio 40000 RTP\/AVP 0 8 9 111 101/);
    const [bye] = await peer.received('BYE ');
    expect(bye).toMatch(
      /^Route: *<sip:127\.0\.0\.1:\d+;lr;hop=near-uac>, *<sip:127\.0\.0\.1:\d+;lr;hop=near-uas>\r?$/m,
    );
    expect(bye).toMatch(/^CSeq: 2 BYE\r?$/m);
    expect(bye).toMatch(/^To: .*;tag=\w*SIPpTag01\w*\r?$/m);
  });

  it('486 Busy Here fails with reason sip and the code', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'busy-486.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'sip', sipCode: 486 });
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
  });

  it('no final answer within inviteTimeoutMs: CANCEL, 487, failed timeout', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'ring-no-answer.xml' }));
    const call = callTo(peer, { inviteTimeoutMs: 3000 });
    defer(() => call.hangup());
    await next(call, 'ringing');
    const started = Date.now();
    const [failed] = await next(call, 'failed');
    expect(failed.reason).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThan(2000);
    expect((await peer.finished()).code).toBe(0);
    expect(await peer.messages()).toMatch(/CANCEL sip:service@127\.0\.0\.1:\d+ SIP\/2\.0/);
  });

  it('hangup while ringing cancels and ends with reason cancelled', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'ring-no-answer.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    await next(call, 'ringing');
    const ended = next(call, 'ended');
    await call.hangup();
    expect((await ended)[0]).toEqual({ by: 'local', reason: 'cancelled' });
    expect((await peer.finished()).code).toBe(0);
  });

  it('an unreachable peer (no response at all) fails with timeout at inviteTimeoutMs, not at timer B', async () => {
    const port = await freePort();
    const call = startSipCallTo(port, { inviteTimeoutMs: 1000 });
    defer(() => call.hangup());
    const started = Date.now();
    const [failed] = await next(call, 'failed');
    expect(failed.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('hangup before any response ends at once with reason cancelled (nothing to CANCEL yet)', async () => {
    const port = await freePort();
    const call = startSipCallTo(port);
    defer(() => call.hangup());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ended = next(call, 'ended');
    const started = Date.now();
    await call.hangup();
    expect((await ended)[0]).toEqual({ by: 'local', reason: 'cancelled' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a UAS that stays silent until the INVITE retransmission still gets answered', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'answer-retransmission.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    const [media] = await next(call, 'answered');
    expect(media.audio).toMatchObject({ codec: 'PCMA', payloadType: 8 });
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
    const invites = (await peer.messages()).match(/^INVITE sip:/gm) ?? [];
    expect(invites.length).toBeGreaterThanOrEqual(2);
  });

  it('the first INVITE datagram is lost on the way: the timer A retransmission still connects', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'answer-pcmu.xml' }));
    const relay = owned(await UdpRelay.start(peer.port, { dropFirst: 1 }));
    const started = Date.now();
    const call = callTo(peer, { target: { user: 'service', host: '127.0.0.1', port: relay.port } });
    defer(() => call.hangup());
    await next(call, 'answered');
    // Nothing can answer before the first retransmission, T1 = 500 ms after the lost INVITE (RFC 3261 17.1.1.2).
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
    expect(relay.dropped).toHaveLength(1);
    expect(relay.dropped[0]).toMatch(/^INVITE sip:service@127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
    // What sipp got is the same transaction, retransmitted: the same Via branch as the INVITE that was lost.
    const [received] = await peer.received('INVITE ');
    const branch = (invite: string) => /^Via: .*;branch=([^;\s]+)/m.exec(invite)?.[1];
    expect(branch(received!)).toBeDefined();
    expect(branch(received!)).toBe(branch(relay.dropped[0]!));
  });
});
