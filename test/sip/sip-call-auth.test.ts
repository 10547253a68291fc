import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../media-task/log.ts';
import type { SipCall } from '../../media-task/sip/sip-call.ts';
import { SippPeer } from '../support/sipp.ts';
import { callTo, next } from './call-helpers.ts';

describe('digest challenges (sipp UAS)', () => {
  let peer: SippPeer | undefined;
  let call: SipCall | undefined;

  afterEach(async () => {
    await call?.hangup();
    await peer?.close();
    peer = undefined;
    call = undefined;
  });

  it('401: the second INVITE carries an Authorization that sipp verifies', async () => {
    peer = await SippPeer.start({ scenario: 'auth-401.xml', keys: { pw: 'secret' } });
    const lines: string[] = [];
    const logger = createLogger({}, { level: 'debug', write: (line) => lines.push(line) });
    call = callTo(peer, { credentials: { username: 'alice', password: 'secret' }, logger });
    await next(call, 'answered');
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
    expect(lines.join('\n')).toContain('sip sent');
    expect(lines.join('\n')).not.toContain('secret');
    const invites = await peer.received('INVITE ');
    expect(invites).toHaveLength(2);
    expect(invites[0]).toMatch(/CSeq: 1 INVITE/);
    expect(invites[1]).toMatch(/CSeq: 2 INVITE/);
    expect(invites[1]).toMatch(/Authorization: Digest username="alice"/);
    expect(await peer.messages()).not.toContain('secret');
  });

  it('401 with the wrong password: sipp answers 403, the call fails', async () => {
    peer = await SippPeer.start({ scenario: 'auth-401.xml', keys: { pw: 'secret' } });
    call = callTo(peer, { credentials: { username: 'alice', password: 'wrong' } });
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'sip', sipCode: 403 });
  });

  it('407: the second INVITE carries Proxy-Authorization', async () => {
    peer = await SippPeer.start({ scenario: 'auth-407.xml' });
    call = callTo(peer, { credentials: { username: 'alice', password: 'secret' } });
    await next(call, 'answered');
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
  });

  it('a second challenge after our credentials fails with reason auth', async () => {
    peer = await SippPeer.start({ scenario: 'auth-rechallenge.xml' });
    call = callTo(peer, { credentials: { username: 'alice', password: 'secret' } });
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'auth', sipCode: 401 });
    expect((await peer.finished()).code).toBe(0);
  });

  it('a challenge without credentials fails with reason auth at once', async () => {
    peer = await SippPeer.start({ scenario: 'auth-rechallenge.xml' });
    call = callTo(peer);
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'auth', sipCode: 401 });
  });

  it('register: REGISTER answered after a verified challenge, then the call, then unREGISTER with Expires 0', async () => {
    peer = await SippPeer.start({ scenario: 'register-then-call.xml', calls: 2 });
    call = callTo(peer, { register: true, credentials: { username: 'alice', password: 'secret' } });
    await next(call, 'answered');
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
    const registers = await peer.received('REGISTER ');
    expect(registers).toHaveLength(3);
    expect(registers[0]).toMatch(/^REGISTER sip:127\.0\.0\.1:\d+ SIP\/2\.0/);
    expect(registers[1]).toMatch(/Authorization: Digest username="alice"/);
    expect(registers[2]).toMatch(/Expires: 0/);
  });

  it('register refused (403 after our credentials) fails with the code and never INVITEs', async () => {
    peer = await SippPeer.start({ scenario: 'register-then-call.xml', calls: 2 });
    call = callTo(peer, { register: true, credentials: { username: 'alice', password: 'wrong' } });
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'sip', sipCode: 403 });
    expect(await peer.received('INVITE ')).toHaveLength(0);
  });
});
