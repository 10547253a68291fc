import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipCall, type SipCallOptions } from '../../media-task/sip/sip-call.ts';
import { next, testLogger } from './call-helpers.ts';
import { selfSignedCertificate, TlsUas } from './tls-uas.ts';

describe('SIP over TLS', () => {
  let credentials: { key: string; cert: string };
  let uas: TlsUas;

  beforeAll(async () => {
    credentials = await selfSignedCertificate();
    uas = await TlsUas.start(credentials);
  });
  afterAll(async () => {
    await uas?.close();
  });

  const options = (tlsCa?: string): SipCallOptions => ({
    transport: 'tls',
    target: { user: 'service', host: '127.0.0.1', port: uas.port },
    from: { user: 'gateway', domain: '127.0.0.1' },
    register: false,
    bindAddress: '127.0.0.1',
    publicAddress: '127.0.0.1',
    local: { address: '127.0.0.1', audio: { port: 40000, direction: 'recvonly' } },
    tlsCa,
    inviteTimeoutMs: 5000,
    logger: testLogger,
  });

  it('dials, gets answered, ACKs and BYEs over one verified TLS connection', async () => {
    const call = startSipCall(options(credentials.cert));
    const [media] = await next(call, 'answered');
    expect(media.audio?.codec).toBe('PCMU');
    await call.hangup();
    expect(uas.received.map((line) => line.split(' ')[0])).toEqual(['INVITE', 'ACK', 'BYE']);
    expect(uas.received[0]).toMatch(/^INVITE sip:service@127\.0\.0\.1:\d+;transport=tls SIP\/2\.0$/);
    expect(uas.received[2]).toMatch(/^BYE sip:uas@127\.0\.0\.1:\d+;transport=tls SIP\/2\.0$/);
  });

  it('refuses a server certificate it cannot verify: the call fails, nothing is sent in clear', async () => {
    uas.received.length = 0;
    const call = startSipCall(options());
    const [failed] = await next(call, 'failed');
    expect(failed.reason).toBe('sip');
    expect(uas.received).toEqual([]);
    await call.hangup();
  });
});
