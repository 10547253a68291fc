import { describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { SippPeer } from '../support/sipp.ts';
import { callTo, next } from './call-helpers.ts';

describe('requests the peer sends inside the dialog (sipp UAS)', () => {
  const { owned, defer } = useCleanup();

  it('hold re-INVITE (a=sendonly): we answer recvonly on our port, mediaChanged fires, the call stays up', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'reinvite-hold.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    await next(call, 'answered');
    const [media] = await next(call, 'mediaChanged');
    expect(media.audio).toMatchObject({ codec: 'PCMU', remotePort: 6002, peerDirection: 'sendonly' });
    // sipp then sends OPTIONS (200 with Allow) and MESSAGE (501) before it waits for our BYE.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const ended = next(call, 'ended');
    await call.hangup();
    expect((await ended)[0]).toMatchObject({ by: 'local', reason: 'hangup' });
    expect((await peer.finished()).code).toBe(0);
    expect(await peer.received('SIP/2.0 501')).toHaveLength(1);
  });

  it('a 2xx whose Contact is the metadata address: no ACK or BYE goes there, and the call fails saying why', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'answer-contact-metadata.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    const [failed] = await next(call, 'failed', 5_000);
    expect(failed).toEqual({
      reason: 'sip',
      message: 'unusable 2xx to INVITE: SipTransportError: 169.254.169.254 is a link-local or cloud metadata address',
    });
  });

  it('BYE from the peer: 200 OK and ended by remote', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'remote-bye.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    await next(call, 'answered');
    const [ended] = await next(call, 'ended');
    expect(ended).toEqual({ by: 'remote', reason: 'bye' });
    expect((await peer.finished()).code).toBe(0);
  });

  it('sendInfoDtmf sends INFO application/dtmf-relay and resolves on 200', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'dtmf-info.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    await next(call, 'answered');
    await call.sendInfoDtmf('5', 160);
    await expect(call.sendInfoDtmf('x', 160)).rejects.toThrow(/not a DTMF digit/);
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
    await expect(call.sendInfoDtmf('5', 160)).rejects.toMatchObject({ name: 'SipCallStateError' });
  });

  it('works over TCP (sipp -t t1): answered, BYE, scenario passes', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'answer-pcmu.xml', transport: 'tcp' }));
    const call = callTo(peer, { transport: 'tcp' });
    defer(() => call.hangup());
    const [media] = await next(call, 'answered');
    expect(media.audio?.codec).toBe('PCMU');
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
    const [invite] = await peer.received('INVITE ');
    expect(invite).toMatch(/^INVITE sip:service@127\.0\.0\.1:\d+;transport=tcp SIP\/2\.0/);
    expect(invite).toMatch(/Via: SIP\/2\.0\/TCP 127\.0\.0\.1:\d+;branch=/);
    expect(await peer.received('BYE ')).toHaveLength(1);
  });
});
