import { describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app/create-app.ts';
import {
  SIGNATURE_HEADER,
  TWILIO_SIGNATURE_HEADER,
  signBody,
  twilioSignature,
} from '../../functions/webhooks/signature.ts';
import type { WebhookConfig } from '../../functions/webhooks/webhook-config.ts';
import { silentLogger } from '../../shared/log.ts';
import { escapeUser } from '../../media-task/sip/sip-call.ts';
import { FakeLauncher, MemoryCallStore, fakeDns, fixedKeys } from '../functions/fakes.ts';

const NOW = new Date('2026-05-01T12:00:00.000Z');
const SID = 'CF' + 'a1'.repeat(16);
const config: WebhookConfig = {
  statusSigningKey: 'status-key-0123456789',
  triggerSigningKey: 'trigger-key-0123456789',
  twilio: {
    authToken: 'twilio-auth-token',
    sipDomain: 'mydomain.sip.twilio.com',
    sipLogin: 'gateway',
    sipPassword: 'twilio-sip-secret',
    rtmpUrl: 'rtmp://cdn.example.com:1935/live',
    rtmpStream: 'conf-{conference}',
  },
};

function setup(webhooks: WebhookConfig = config, apiKey?: string) {
  const store = new MemoryCallStore();
  const launcher = new FakeLauncher();
  const changes: string[] = [];
  const resolveHost = fakeDns({ 'hooks.attacker.test': ['169.254.170.2'] });
  const app = createApp({
    store,
    resolveHost,
    launcher,
    logger: silentLogger,
    webhooks,
    now: () => NOW,
    onStateChange: (record, change) => void changes.push(`${record.callId}:${change.to}`),
    ...(apiKey ? { apiKeys: fixedKeys(apiKey) } : {}),
  });
  const twilio = async (
    path: string,
    params: Record<string, string>,
    sign: (url: string, p: URLSearchParams) => string | undefined = (url, p) =>
      twilioSignature('twilio-auth-token', url, p),
  ) => {
    const form = new URLSearchParams(params);
    const url = `http://gateway.test${path}`;
    const signature = sign(url, form);
    const response = await app.request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(signature ? { [TWILIO_SIGNATURE_HEADER]: signature } : {}),
      },
      body: form.toString(),
    });
    return { status: response.status, text: await response.text() };
  };
  const trigger = async (body: unknown, key = 'trigger-key-0123456789', at = NOW.getTime() / 1000) => {
    const text = JSON.stringify(body);
    const response = await app.request('/webhooks/trigger', {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(key, text, at) },
      body: text,
    });
    return { status: response.status, json: (await response.json()) as Record<string, any> };
  };
  return { app, store, launcher, changes, twilio, trigger };
}

const conference = (event: string, extra: Record<string, string> = {}) => ({
  AccountSid: 'AC' + '0'.repeat(32),
  ConferenceSid: SID,
  FriendlyName: 'Weekly all hands',
  StatusCallbackEvent: event,
  ...extra,
});

describe('POST /webhooks/twilio', () => {
  it.each([
    ['no signature', () => undefined],
    ['a signature with another token', (url: string, p: URLSearchParams) => twilioSignature('other-token', url, p)],
    [
      'a signature over another URL',
      (_url: string, p: URLSearchParams) => twilioSignature('twilio-auth-token', 'http://evil.test/webhooks/twilio', p),
    ],
  ])('answers 403 to %s and starts nothing', async (_name, sign) => {
    const { twilio, launcher } = setup();
    const response = await twilio('/webhooks/twilio', conference('conference-start'), sign);
    expect(response.status).toBe(403);
    expect(JSON.parse(response.text).error.code).toBe('bad_signature');
    expect(launcher.calls).toEqual([]);
  });

  it('conference-start dials the conference through the SIP domain with the template, once even when Twilio retries', async () => {
    const { twilio, launcher, changes } = setup();
    const first = await twilio('/webhooks/twilio', conference('conference-start'));
    expect(first.status).toBe(200);
    expect(JSON.parse(first.text)).toMatchObject({
      action: 'start',
      // No API key started it: it is recorded under the webhook's name.
      call: { callId: `twilio-${SID}`, state: 'dialing', keyName: 'webhook:twilio' },
    });
    expect(first.text).not.toContain('twilio-sip-secret');
    expect((await twilio('/webhooks/twilio', conference('conference-start'))).status).toBe(200);
    expect(launcher.launches).toEqual([
      {
        op: 'launch',
        spec: expect.objectContaining({
          callId: `twilio-${SID}`,
          callee: Buffer.from('Weekly all hands').toString('base64url'),
          rtmpUrl: 'rtmp://cdn.example.com:1935/live',
          rtmpStream: 'conf-Weekly_all_hands',
          hasVideo: false,
          video: 'slate',
          connection: expect.objectContaining({
            sipDomain: 'mydomain.sip.twilio.com',
            sipLogin: 'gateway',
            sipPassword: 'twilio-sip-secret',
          }),
        }),
      },
    ]);
    expect(changes).toEqual([`twilio-${SID}:dialing`]);
  });

  it('dials a user part the SIP stack sends unchanged and the Voice URL maps back to the conference', async () => {
    const { twilio, launcher } = setup();
    await twilio('/webhooks/twilio', conference('conference-start', { FriendlyName: 'Ünïcode 100% <room>' }));
    const callee = launcher.launches[0]!.spec.callee;
    expect(escapeUser(callee)).toBe(callee);
    const voice = await twilio('/webhooks/twilio/voice', { To: `sip:${callee}@mydomain.sip.twilio.com` });
    expect(voice.text).toContain('>Ünïcode 100% &#60;room&#62;</Conference>');
  });

  it('conference-end hangs the broadcast up; an end without a start is a no-op', async () => {
    const { twilio, launcher } = setup();
    expect(JSON.parse((await twilio('/webhooks/twilio', conference('conference-end'))).text)).toEqual({
      action: 'hangup',
    });
    await twilio('/webhooks/twilio', conference('conference-start'));
    const end = await twilio('/webhooks/twilio', conference('conference-end'));
    expect(JSON.parse(end.text)).toMatchObject({ action: 'hangup', call: { desiredState: 'ended' } });
    expect(launcher.calls.filter((c) => c.op === 'stop')).toEqual([
      { op: 'stop', callId: `twilio-${SID}`, taskRef: `task-twilio-${SID}` },
    ]);
  });

  it('ignores events it does not map, and refuses a malformed ConferenceSid', async () => {
    const { twilio, launcher } = setup();
    expect(JSON.parse((await twilio('/webhooks/twilio', conference('participant-join'))).text)).toMatchObject({
      action: 'ignore',
    });
    expect((await twilio('/webhooks/twilio', conference('conference-start', { ConferenceSid: 'CF../x' }))).status).toBe(
      400,
    );
    expect(launcher.calls).toEqual([]);
  });

  it('verifies against PUBLIC_BASE_URL when set (proxy, API Gateway stage)', async () => {
    const { twilio, launcher } = setup({
      ...config,
      twilio: { ...config.twilio!, publicBaseUrl: 'https://api.example.com/prod' },
    });
    const signedForPublic = (_url: string, p: URLSearchParams) =>
      twilioSignature('twilio-auth-token', 'https://api.example.com/prod/webhooks/twilio', p);
    expect((await twilio('/webhooks/twilio', conference('conference-start'))).status).toBe(403);
    expect((await twilio('/webhooks/twilio', conference('conference-start'), signedForPublic)).status).toBe(200);
    expect(launcher.launches).toHaveLength(1);
  });

  it('answers the SIP domain Voice URL with TwiML joining the dialled conference, escaped', async () => {
    const { twilio } = setup();
    const user = Buffer.from('Weekly <all> ü').toString('base64url');
    const voice = await twilio('/webhooks/twilio/voice', {
      To: `sip:${user}@mydomain.sip.twilio.com;transport=udp`,
      From: 'sip:gateway@1.2.3.4',
    });
    expect(voice.status).toBe(200);
    expect(voice.text).toContain(
      '<Conference muted="true" beep="false" startConferenceOnEnter="false" endConferenceOnExit="false">Weekly &#60;all&#62; ü</Conference>',
    );
    expect((await twilio('/webhooks/twilio/voice', { To: 'sip:@mydomain.sip.twilio.com' })).text).toContain('<Reject');
    expect((await twilio('/webhooks/twilio/voice', { To: 'sip:x@y' }, () => 'bad')).status).toBe(403);
  });

  it('does not exist without TWILIO_AUTH_TOKEN', async () => {
    const { twilio } = setup({});
    expect((await twilio('/webhooks/twilio', conference('conference-start'))).status).toBe(404);
  });

  it('needs no bearer key (the signature authenticates), while the API still does', async () => {
    const { twilio, app } = setup(config, 'api-key-1');
    expect((await twilio('/webhooks/twilio', conference('conference-start'))).status).toBe(200);
    expect((await app.request('/v1/calls')).status).toBe(401);
  });
});

const call = (overrides: Record<string, unknown> = {}) => ({
  callId: 'trig-1',
  callee: '10000',
  rtmpUrl: 'rtmp://cdn.example.com/live',
  rtmpStream: 's1',
  connection: { sipLogin: '10000', sipPassword: 'pw-secret', sipDomain: 'pbx.example.com' },
  ...overrides,
});

describe('POST /webhooks/trigger (generic signed trigger)', () => {
  it('starts, sends DTMF to and hangs up a call', async () => {
    const { trigger, launcher, store } = setup();
    const started = await trigger({ action: 'start', call: call({ statusCallback: 'https://hooks.example.com/s' }) });
    expect(started.status).toBe(201);
    expect(started.json).toMatchObject({ callId: 'trig-1', keyName: 'webhook:trigger' });
    expect(JSON.stringify(started.json)).not.toContain('pw-secret');
    expect((await store.get('trig-1'))!.statusCallback).toEqual({ url: 'https://hooks.example.com/s' });
    expect((await trigger({ action: 'dtmf', callId: 'trig-1', dtmf: '123#' })).status).toBe(202);
    expect((await trigger({ action: 'hangup', callId: 'trig-1' })).status).toBe(202);
    expect(launcher.calls.map((c) => c.op)).toEqual(['launch', 'command', 'stop']);
  });

  it.each([
    ['another key', 'wrong-key-0123456789', NOW.getTime() / 1000],
    ['a replay after the tolerance', 'trigger-key-0123456789', NOW.getTime() / 1000 - 600],
  ])('answers 403 to a body signed with %s', async (_name, key, at) => {
    const { trigger, launcher } = setup();
    const response = await trigger({ action: 'start', call: call() }, key, at);
    expect(response.status).toBe(403);
    expect(launcher.calls).toEqual([]);
  });

  it('requires a callId to start (idempotent retries) and validates like the API', async () => {
    const { trigger } = setup();
    expect((await trigger({ action: 'start', call: call({ callId: undefined }) })).json.error.field).toBe('callId');
    expect(
      (await trigger({ action: 'start', call: call({ rtmpUrl: 'rtmp://169.254.169.254/x' }) })).json.error.field,
    ).toBe('rtmpUrl');
    expect((await trigger({ action: 'reboot' })).status).toBe(400);
  });

  it('does not exist without TRIGGER_SIGNING_KEY', async () => {
    const { trigger } = setup({});
    expect((await trigger({ action: 'hangup', callId: 'x' })).status).toBe(404);
  });
});

describe('statusCallback on call requests', () => {
  const post = async (app: ReturnType<typeof setup>['app'], path: string, body: unknown) => {
    const response = await app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, any> };
  };

  it.each([
    ['ftp URL', { statusCallback: 'ftp://hooks.example.com/x' }, 'statusCallback'],
    ['userinfo', { statusCallback: 'https://user:pw@hooks.example.com/x' }, 'statusCallback'],
    ['link-local metadata', { statusCallback: 'http://169.254.169.254/latest/meta-data' }, 'statusCallback'],
    ['metadata in decimal', { statusCallback: 'http://2852039166/' }, 'statusCallback'],
    ['GCP metadata name', { statusCallback: 'http://metadata.google.internal/' }, 'statusCallback'],
    ['IPv6 link-local', { statusCallback: 'http://[fe80::1]/' }, 'statusCallback'],
    [
      'a name that resolves to the ECS credentials address',
      { statusCallback: 'https://hooks.attacker.test/' },
      'statusCallback',
    ],
    ['CR/LF', { statusCallback: 'https://hooks.example.com/a\r\nb' }, 'statusCallback'],
    [
      'an unknown state',
      { statusCallback: 'https://hooks.example.com/', statusCallbackEvents: ['ringing', 'exploded'] },
      'statusCallbackEvents.1',
    ],
    ['events without a URL', { statusCallbackEvents: ['ended'] }, 'statusCallback'],
  ])('refuses %s with 400 naming the field', async (_name, fields, field) => {
    const { app, launcher } = setup();
    for (const path of ['/v1/calls', '/RESTCall/call']) {
      const response = await post(app, path, call(fields));
      expect(response.status).toBe(400);
      expect(response.json.error.field).toBe(field);
    }
    expect(launcher.calls).toEqual([]);
  });

  it('stores the callback on the record and shows it with the deliveries', async () => {
    const { app, store } = setup();
    expect(
      (
        await post(
          app,
          '/v1/calls',
          call({ statusCallback: 'https://hooks.example.com/s', statusCallbackEvents: ['ended', 'ended'] }),
        )
      ).status,
    ).toBe(201);
    expect((await store.get('trig-1'))!.statusCallback).toEqual({
      url: 'https://hooks.example.com/s',
      events: ['ended'],
    });
    const deliveries = await app.request('/v1/calls/trig-1/deliveries');
    expect(await deliveries.json()).toEqual({
      statusCallback: { url: 'https://hooks.example.com/s', events: ['ended'] },
      deliveries: [],
    });
  });

  it('is refused when the server has no signing key', async () => {
    const { app } = setup({});
    const response = await post(app, '/v1/calls', call({ statusCallback: 'https://hooks.example.com/s' }));
    expect(response.status).toBe(400);
    expect(response.json.error.message).toMatch(/not enabled/);
  });

  it('reports the failed state when no task can be launched', async () => {
    const { app, launcher, changes } = setup();
    launcher.failLaunch = true;
    expect((await post(app, '/v1/calls', call())).status).toBe(503);
    expect(changes).toEqual(['trig-1:dialing', 'trig-1:failed']);
  });
});
