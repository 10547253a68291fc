import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.ts';
import { useCleanup } from '../support/cleanup.ts';
import { SippPeer } from '../support/sipp.ts';
import { callTo, next } from './call-helpers.ts';

describe('digest challenges (sipp UAS)', () => {
  const { owned, defer } = useCleanup();

  it('401: the second INVITE carries an Authorization that sipp verifies', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'auth-401.xml', keys: { pw: 'secret' } }));
    const lines: string[] = [];
    const logger = createLogger({}, { level: 'debug', write: (line) => lines.push(line) });
    const call = callTo(peer, { credentials: { username: 'alice', password: 'secret' }, logger });
    defer(() => call.hangup());
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
    const peer = owned(await SippPeer.start({ scenario: 'auth-401.xml', keys: { pw: 'secret' } }));
    const call = callTo(peer, { credentials: { username: 'alice', password: 'wrong' } });
    defer(() => call.hangup());
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'sip', sipCode: 403 });
  });

  it('407: the second INVITE carries Proxy-Authorization', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'auth-407.xml' }));
    const call = callTo(peer, { credentials: { username: 'alice', password: 'secret' } });
    defer(() => call.hangup());
    await next(call, 'answered');
    await call.hangup();
    expect((await peer.finished()).code).toBe(0);
  });

  it('a second challenge after our credentials fails with reason auth', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'auth-rechallenge.xml' }));
    const call = callTo(peer, { credentials: { username: 'alice', password: 'secret' } });
    defer(() => call.hangup());
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'auth', sipCode: 401 });
    expect((await peer.finished()).code).toBe(0);
  });

  it('a challenge without credentials fails with reason auth at once', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'auth-rechallenge.xml' }));
    const call = callTo(peer);
    defer(() => call.hangup());
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'auth', sipCode: 401 });
  });

  it('register: REGISTER answered after a verified challenge, then the call, then unREGISTER with Expires 0', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'register-then-call.xml', calls: 2 }));
    const call = callTo(peer, { register: true, credentials: { username: 'alice', password: 'secret' } });
    defer(() => call.hangup());
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
    const peer = owned(await SippPeer.start({ scenario: 'register-then-call.xml', calls: 2 }));
    const call = callTo(peer, { register: true, credentials: { username: 'alice', password: 'wrong' } });
    defer(() => call.hangup());
    const [failed] = await next(call, 'failed');
    expect(failed).toMatchObject({ reason: 'sip', sipCode: 403 });
    expect(await peer.received('INVITE ')).toHaveLength(0);
  });
});
