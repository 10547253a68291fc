import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.ts';
import { Registration } from '../../media-task/sip/registration.ts';
import { ChallengeResponder } from '../../media-task/sip/sip-auth.ts';
import { openSipStack, type OutgoingRequest, type SipStack } from '../../media-task/sip/sip-stack.ts';
import { startKamailio, type KamailioPeer } from '../support/kamailio.ts';
import { fixture, runSipp } from './sipp.ts';

describe('kamailio test registrar (sipp as the client)', () => {
  let kamailio: KamailioPeer;

  beforeAll(async () => {
    kamailio = await startKamailio({
      users: [
        { username: 'alice', password: 's3cret' },
        { username: 'bob', password: 'hunter2' },
      ],
    });
  });
  afterAll(async () => {
    await kamailio?.close();
  });

  const register = (scenario: string, user: string, password: string) =>
    runSipp(`127.0.0.1:${kamailio.port}`, [
      '-sf',
      fixture(`kamailio/${scenario}`),
      '-s',
      user,
      '-au',
      user,
      '-ap',
      password,
    ]);

  it('answers OPTIONS without auth', async () => {
    const run = await runSipp(`127.0.0.1:${kamailio.port}`, ['-sf', fixture('kamailio/options.xml')]);
    expect(run.code, run.output).toBe(0);
  });

  it('challenges REGISTER and accepts the right password', async () => {
    expect(await kamailio.registered('alice')).toEqual([]);
    const run = await register('register.xml', 'alice', 's3cret');
    expect(run.code, run.output).toBe(0);
    expect(run.messages).toMatch(/WWW-Authenticate: Digest realm="127\.0\.0\.1".*algorithm=MD5/);
    const contacts = await kamailio.registered('alice');
    expect(contacts).toHaveLength(1);
    expect(contacts[0]!.address).toMatch(/^sip:alice@127\.0\.0\.1:\d+/);
    expect(contacts[0]!.expires).toBeGreaterThan(0);
  });

  it('challenges a wrong password again and does not register it', async () => {
    const run = await register('register-rejected.xml', 'bob', 'wrong');
    expect(run.code, run.output).toBe(0);
    expect(run.messages).toMatch(/SIP\/2\.0 401/);
    expect(await kamailio.registered('bob')).toEqual([]);
    // The scenario expecting 200 fails against a wrong password.
    expect((await register('register.xml', 'bob', 'wrong')).code).not.toBe(0);
  });

  it('refuses an unknown user with 403', async () => {
    const run = await register('register-rejected.xml', 'mallory', 'whatever');
    expect(run.code, run.output).toBe(0);
    expect(run.messages).toMatch(/SIP\/2\.0 403/);
  });
});

describe('kamailio with SHA-256 challenges', () => {
  it('sends algorithm=SHA-256', async () => {
    const kamailio = await startKamailio({ users: [{ username: 'carol', password: 'pw' }], algorithm: 'SHA-256' });
    try {
      // sipp 3.6 cannot answer SHA-256, so only the challenge is checked.
      const run = await runSipp(`127.0.0.1:${kamailio.port}`, [
        '-sf',
        fixture('kamailio/register.xml'),
        '-s',
        'carol',
        '-au',
        'carol',
        '-ap',
        'pw',
      ]);
      expect(run.messages).toMatch(/WWW-Authenticate: Digest realm="127\.0\.0\.1".*algorithm=SHA-256/);
    } finally {
      await kamailio.close();
    }
  });

  it('the gateway registers: its REGISTER answers with algorithm=SHA-256, kamailio says 200 and binds it', async () => {
    const kamailio = await startKamailio({
      users: [{ username: 'dave', password: 'Sha-256-pw' }],
      algorithm: 'SHA-256',
    });
    const stack = await openSipStack({
      transport: 'udp',
      bindAddress: '127.0.0.1',
      publicAddress: '127.0.0.1',
      logger: silentLogger,
    });
    try {
      const exchanges: { request: OutgoingRequest; status: number }[] = [];
      const recording: SipStack = {
        ...stack,
        request: (request, onResponse) =>
          stack.request(request, (response) => {
            if (response.status >= 200) exchanges.push({ request, status: response.status });
            onResponse(response);
          }),
      };
      const registration = new Registration(
        recording,
        new ChallengeResponder({ username: 'dave', password: 'Sha-256-pw' }),
        {
          registrarUri: kamailio.uri,
          aor: 'sip:dave@127.0.0.1',
          contact: { uri: `sip:dave@127.0.0.1:${stack.localPort}`, params: {} },
          logger: silentLogger,
        },
      );
      expect(await registration.register()).toMatchObject({ ok: true });
      expect(exchanges.map(({ status }) => status)).toEqual([401, 200]);
      // 64 hex digits: a SHA-256 response; an MD5 one has 32.
      expect(exchanges[1]!.request.headers.extra.authorization).toMatch(
        /^Digest (?=.*\balgorithm=SHA-256\b)(?=.*\bresponse="[0-9a-f]{64}").*username="dave"/,
      );
      expect((await kamailio.registered('dave')).map((contact) => contact.address)).toEqual([
        `sip:dave@127.0.0.1:${stack.localPort}`,
      ]);
      await registration.unregister();
      expect(await kamailio.registered('dave')).toEqual([]);
    } finally {
      stack.close();
      await kamailio.close();
    }
  });
});
