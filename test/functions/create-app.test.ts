import { describe, expect, it } from 'vitest';
import { createApp, MAX_BODY_BYTES } from '../../functions/app/create-app.ts';
import { FAILURE_REASONS } from '../../shared/call-types.ts';
import type { ApiKeySource } from '../../functions/core/api-keys.ts';
import { callUsage, LIST_PRICES, type Pricing } from '../../functions/core/call-usage.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { CallRecord, HostResolver } from '../../functions/core/ports.ts';
import { silentLogger } from '../../shared/log.ts';
import { makeSpec } from './call-store.suite.ts';
import { FakeLauncher, MemoryCallStore, fakeDns, fixedKeys } from './fakes.ts';

const PASSWORD = 'S3cret-pa55word';

/** The body from the WCS integration article, with a unique stream per test. */
function seedBody(overrides: Record<string, unknown> = {}, connection: Record<string, unknown> = {}) {
  return {
    callId: 'Xq2tlLcX89tTjaji',
    callee: '10000',
    rtmpUrl: 'rtmp://45.101.139.105:1935/live',
    rtmpStream: 'lifestream1',
    hasAudio: 'true',
    hasVideo: 'true',
    connection: {
      sipLogin: '10000',
      sipPassword: PASSWORD,
      sipAuthenticationName: '10000',
      sipDomain: '162.255.36.11',
      sipPort: '5060',
      sipRegisterRequired: 'false',
      appKey: 'callApp',
      ...connection,
    },
    ...overrides,
  };
}

function setup(
  options: {
    apiKey?: string;
    apiKeys?: ApiKeySource;
    pricing?: Pricing;
    resolveHost?: HostResolver;
    loopbackOnly?: boolean;
    metrics?: () => Promise<{ contentType: string; body: string }>;
  } = {},
) {
  const { apiKey, ...rest } = options;
  const store = new MemoryCallStore();
  const launcher = new FakeLauncher();
  let n = 0;
  const app = createApp({
    store,
    launcher,
    resolveHost: fakeDns(),
    logger: silentLogger,
    newCallId: () => `generated-${++n}`,
    ...rest,
    ...(apiKey ? { apiKeys: fixedKeys(apiKey) } : {}),
  });
  const answers: string[] = [];
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...headers } };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const response = await app.request(path, init);
    const text = await response.text();
    answers.push(text);
    return { status: response.status, json: text ? JSON.parse(text) : undefined, headers: response.headers };
  };
  return { app, store, launcher, request, answers };
}

const hostile = ['a\r\nVia: evil', 'a b', 'a\tb', 'a<b', 'a>b', 'a"b', 'a\u0000b', 'a@b', 'a:b', 'x'.repeat(129)];
type Case = [string, Record<string, unknown>, Record<string, unknown>, string];
const cases: Case[] = [
  ...['callee'].flatMap((field) =>
    hostile.map((value): Case => [`${field} = ${JSON.stringify(value).slice(0, 20)}`, { [field]: value }, {}, field]),
  ),
  ...['sipLogin', 'sipAuthenticationName'].flatMap((field) =>
    hostile.map((value): Case => [
      `${field} = ${JSON.stringify(value).slice(0, 20)}`,
      {},
      { [field]: value },
      `connection.${field}`,
    ]),
  ),
  ...['a\r\nb.com', 'a b.com', 'a<b>.com', 'exa_mple.com', '-bad.com', 'x'.repeat(254), '1.2.3.4.5', '[::1', ''].map(
    (value): Case => [
      `sipDomain = ${JSON.stringify(value).slice(0, 20)}`,
      {},
      { sipDomain: value },
      'connection.sipDomain',
    ],
  ),
  ...[
    '169.254.169.254',
    '169.254.0.1',
    '0xa9.0xfe.0xa9.0xfe',
    'metadata.google.internal',
    'METADATA.google.internal.',
    '100.100.100.200',
    'fd00:ec2::254',
    '[fd00:ec2::254]',
    'fe80::1',
    '::ffff:169.254.169.254',
  ].map((value): Case => [
    `sipDomain link-local or metadata ${value}`,
    {},
    { sipDomain: value },
    'connection.sipDomain',
  ]),
  ['sipPassword with CR/LF', {}, { sipPassword: 'a\r\nb' }, 'connection.sipPassword'],
  ['sipPassword too long', {}, { sipPassword: 'p'.repeat(129) }, 'connection.sipPassword'],
  ['sipPort 0', {}, { sipPort: '0' }, 'connection.sipPort'],
  ['sipPort 65536', {}, { sipPort: 65536 }, 'connection.sipPort'],
  ['sipPort "50x"', {}, { sipPort: '50x' }, 'connection.sipPort'],
  ['sipPort -1', {}, { sipPort: -1 }, 'connection.sipPort'],
  ['sipPort 5060.5', {}, { sipPort: 5060.5 }, 'connection.sipPort'],
  ['sipRegisterRequired "yes"', {}, { sipRegisterRequired: 'yes' }, 'connection.sipRegisterRequired'],
  ['transport "sctp"', {}, { transport: 'sctp' }, 'connection.transport'],
  ['unknown connection field', {}, { proxy: 'x' }, 'connection.proxy'],
  ['appKey with space', {}, { appKey: 'a b' }, 'connection.appKey'],
  ['rtmpUrl file:', { rtmpUrl: 'file:///etc/passwd' }, {}, 'rtmpUrl'],
  ['rtmpUrl http:', { rtmpUrl: 'http://example.com/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl with userinfo', { rtmpUrl: 'rtmp://user:pw@example.com/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl link-local', { rtmpUrl: 'rtmp://169.254.169.254/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl link-local as a decimal integer', { rtmpUrl: 'rtmp://2852039166/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl link-local in hex', { rtmpUrl: 'rtmp://0xa9.0xfe.0xa9.0xfe/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl GCP metadata', { rtmpUrl: 'rtmp://metadata.google.internal/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl GCP metadata, trailing dot', { rtmpUrl: 'rtmp://METADATA.google.internal./live' }, {}, 'rtmpUrl'],
  ['rtmpUrl Alibaba metadata', { rtmpUrl: 'rtmp://100.100.100.200/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl AWS IPv6 metadata', { rtmpUrl: 'rtmp://[fd00:ec2::254]/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl IPv6 link-local', { rtmpUrl: 'rtmp://[fe80::1]/live' }, {}, 'rtmpUrl'],
  // Each read as another name by the URL parser than by ffmpeg, which resolves the host as written.
  ['rtmpUrl with a backslash in the host', { rtmpUrl: 'rtmp://www.example.com\\x.attacker.test/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl with %-escapes in the host', { rtmpUrl: 'rtmp://a%2eb.attacker.test/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl with a Unicode host', { rtmpUrl: 'rtmp://ä.attacker.test/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl IPv4-mapped link-local', { rtmpUrl: 'rtmp://[::ffff:169.254.169.254]/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl with CR/LF', { rtmpUrl: 'rtmp://example.com/li\r\nve' }, {}, 'rtmpUrl'],
  ['rtmpUrl with a tab the URL parser would drop', { rtmpUrl: 'rtmp://exam\tple.com/live' }, {}, 'rtmpUrl'],
  ['rtmpUrl without host', { rtmpUrl: 'rtmp:///live' }, {}, 'rtmpUrl'],
  ['rtmpStream empty', { rtmpStream: '' }, {}, 'rtmpStream'],
  ['rtmpStream with space', { rtmpStream: 'a b' }, {}, 'rtmpStream'],
  ['rtmpStream like an ffmpeg option', { rtmpStream: '-y' }, {}, 'rtmpStream'],
  ['rtmpStream too long', { rtmpStream: 's'.repeat(257) }, {}, 'rtmpStream'],
  ['dtmf with letters', { dtmf: '123x' }, {}, 'dtmf'],
  ['dtmf too long', { dtmf: '1'.repeat(65) }, {}, 'dtmf'],
  ['callId with slash', { callId: 'a/b' }, {}, 'callId'],
  ['callId too long', { callId: 'a'.repeat(65) }, {}, 'callId'],
  ['hasAudio "yes"', { hasAudio: 'yes' }, {}, 'hasAudio'],
  ['hasVideo as number', { hasVideo: 1 }, {}, 'hasVideo'],
  ['callee as number', { callee: 10000 }, {}, 'callee'],
  ['maxDurationSeconds 0', { maxDurationSeconds: 0 }, {}, 'maxDurationSeconds'],
  ['rtpTimeoutSeconds "abc"', { rtpTimeoutSeconds: 'abc' }, {}, 'rtpTimeoutSeconds'],
  ['unknown top-level field', { extra: true }, {}, 'extra'],
  ['connection as string', { connection: 'x' }, {}, 'connection'],
];

describe('validation: hostile and broken bodies are refused before anything launches', () => {
  it.each(cases)('%s → 400 naming the field', async (_name, top, connection, field) => {
    const { request, launcher, store } = setup();
    for (const path of ['/RESTCall/call', '/v1/calls']) {
      const response = await request('POST', path, seedBody(top, connection));
      expect(response.status).toBe(400);
      expect(response.json.error).toMatchObject({ code: 'invalid_request', field });
    }
    expect(launcher.calls).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it.each([
    ['broken JSON', '{"callId": "a",', 400],
    ['a JSON array', '[1,2]', 400],
    ['an empty body', '', 400],
    ['a 3 MB body', JSON.stringify({ ...seedBody(), padding: 'x'.repeat(3 * 1024 * 1024) }), 413],
  ] as const)('%s → %s with a JSON error', async (_name, body, status) => {
    const { request, launcher } = setup();
    const response = await request('POST', '/RESTCall/call', body);
    expect(response.status).toBe(status);
    expect(response.json.error.code).toEqual(expect.any(String));
    expect(launcher.calls).toEqual([]);
  });

  // JSON allows any whitespace between tokens: it pads the seed call, still valid, to an exact byte count.
  const paddedSeed = (bytes: number) => {
    const json = JSON.stringify(seedBody());
    return `${json.slice(0, -1)}${' '.repeat(bytes - json.length)}}`;
  };

  it('a valid call of exactly 64 KiB is taken', async () => {
    const { request, launcher } = setup();
    const body = paddedSeed(MAX_BODY_BYTES);
    expect(Buffer.byteLength(body)).toBe(64 * 1024);
    const response = await request('POST', '/RESTCall/call', body);
    expect(response.status).toBe(200);
    expect(launcher.launches).toHaveLength(1);
  });

  it('one byte more → 413 body_too_large naming the body and its limit, nothing launched', async () => {
    const { request, launcher } = setup();
    const body = paddedSeed(MAX_BODY_BYTES + 1);
    expect(Buffer.byteLength(body)).toBe(64 * 1024 + 1);
    for (const path of ['/RESTCall/call', '/v1/calls']) {
      const response = await request('POST', path, body);
      expect(response.status).toBe(413);
      expect(response.json.error).toEqual({ code: 'body_too_large', message: 'request body exceeds 65536 bytes' });
    }
    expect(launcher.calls).toEqual([]);
  });

  it('requires callId on the WCS route but generates one on /v1', async () => {
    const { request } = setup();
    const { callId: _omit, ...body } = seedBody();
    expect((await request('POST', '/RESTCall/call', body)).json.error.field).toBe('callId');
    const created = await request('POST', '/v1/calls', body);
    expect(created.status).toBe(201);
    expect(created.json.callId).toBe('generated-1');
  });
});

describe('names that resolve to link-local or cloud metadata addresses', () => {
  const resolveHost = fakeDns({
    'rtmp.attacker.test': ['203.0.113.7', '169.254.169.254'],
    'pbx.attacker.test': ['fd00:ec2::254'],
    'cdn.example.test': ['203.0.113.10'],
  });
  const elsewhere = { url: 'rtmp://cdn.example.test/live', stream: 'b' };

  it.each([
    ['rtmpUrl', { rtmpUrl: 'rtmp://rtmp.attacker.test:1935/live' }, {}, '169.254.169.254'],
    ['connection.sipDomain', {}, { sipDomain: 'pbx.attacker.test' }, 'fd00:ec2::254'],
    [
      'destinations.1.url',
      { destinations: [elsewhere, { url: 'rtmps://RTMP.attacker.test./live', stream: 'c' }] },
      {},
      '169.254.169.254',
    ],
  ] as const)(
    '%s → 400 naming the field and the address; nothing stored or launched',
    async (field, top, connection, address) => {
      const { request, launcher, store } = setup({ resolveHost });
      for (const path of ['/RESTCall/call', '/v1/calls']) {
        const response = await request('POST', path, seedBody(top, connection));
        expect(response.status).toBe(400);
        expect(response.json.error).toEqual({
          code: 'invalid_request',
          field,
          message: `${field} resolves to ${address}, a link-local or cloud metadata address`,
        });
      }
      expect(launcher.calls).toEqual([]);
      expect(await store.list()).toEqual([]);
    },
  );

  it('a retry of an accepted call gets the call, whatever its names resolve to by now', async () => {
    const names: Record<string, string[]> = { 'cdn.example.test': ['203.0.113.10'] };
    const { request, launcher } = setup({ resolveHost: fakeDns(names) });
    const body = seedBody({ rtmpUrl: 'rtmp://cdn.example.test/live' });
    expect((await request('POST', '/RESTCall/call', body)).status).toBe(200);
    names['cdn.example.test'] = ['169.254.169.254'];
    const retry = await request('POST', '/RESTCall/call', body);
    expect(retry.status).toBe(200);
    expect(retry.json.callId).toBe(body.callId);
    expect(launcher.launches).toHaveLength(1);
  });

  it('names that resolve to other addresses, or to none here, are taken', async () => {
    const { request, launcher } = setup({ resolveHost });
    const body = seedBody(
      { rtmpUrl: 'rtmp://cdn.example.test/live', destinations: [elsewhere] },
      { sipDomain: 'pbx.only-inside-the-vpc.test' },
    );
    expect((await request('POST', '/RESTCall/call', body)).status).toBe(200);
    expect(launcher.launches).toHaveLength(1);
  });
});

describe('starting calls', () => {
  it('accepts the seed body with string booleans and ports, stores then launches a normalized spec', async () => {
    const { request, launcher, store } = setup();
    const response = await request('POST', '/RESTCall/call', seedBody());
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({
      callId: 'Xq2tlLcX89tTjaji',
      state: 'dialing',
      hasAudio: true,
      connection: { sipPort: 5060 },
    });
    expect(launcher.launches).toEqual([
      {
        op: 'launch',
        spec: expect.objectContaining({
          maxDurationSeconds: 14_400,
          rtpTimeoutSeconds: 30,
          connection: expect.objectContaining({ sipPassword: PASSWORD, transport: 'udp', sipRegisterRequired: false }),
        }),
      },
    ]);
    expect((await store.get('Xq2tlLcX89tTjaji'))?.taskRef).toBe('task-Xq2tlLcX89tTjaji');
  });

  it('answers a retry of the same body with the existing call and launches once', async () => {
    const { request, launcher } = setup();
    expect((await request('POST', '/v1/calls', seedBody())).status).toBe(201);
    const again = await request('POST', '/v1/calls', seedBody());
    expect(again.status).toBe(200);
    expect(again.json.callId).toBe('Xq2tlLcX89tTjaji');
    expect(launcher.launches).toHaveLength(1);
  });

  it.each([
    ['another callee', { callee: '10001' }, {}],
    ['another password', {}, { sipPassword: 'other' }],
    ['another stream', { rtmpStream: 'other' }, {}],
  ])('refuses the same callId with %s (409)', async (_name, top, connection) => {
    const { request, launcher } = setup();
    await request('POST', '/v1/calls', seedBody());
    const conflict = await request('POST', '/v1/calls', seedBody(top, connection));
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('call_id_conflict');
    expect(launcher.launches).toHaveLength(1);
  });

  it('refuses a second live call on the same stream key (409), and allows it once the first ended', async () => {
    const { request, launcher, store } = setup();
    await request('POST', '/v1/calls', seedBody());
    const second = await request(
      'POST',
      '/v1/calls',
      seedBody({ callId: 'second', rtmpUrl: 'rtmp://45.101.139.105/live/' }),
    );
    expect(second.status).toBe(409);
    expect(second.json.error.code).toBe('stream_key_in_use');
    expect(launcher.launches).toHaveLength(1);
    const first = (await store.get('Xq2tlLcX89tTjaji'))!;
    await store.update(
      { ...first, state: 'ended', ended: { by: 'remote', reason: 'BYE', durationSeconds: 1 } },
      first.version,
    );
    expect((await request('POST', '/v1/calls', seedBody({ callId: 'second' }))).status).toBe(201);
  });

  it('says "must be a string", not "is required", for a value of the wrong type', async () => {
    const { request } = setup();
    expect((await request('POST', '/v1/calls', seedBody({ callee: 10000 }))).json.error.message).toBe(
      'callee must be a string',
    );
    expect((await request('POST', '/v1/calls', seedBody({ callee: undefined }))).json.error.message).toBe(
      'callee is required',
    );
  });

  it('stops the task when a hangup arrived while its launch was in flight', async () => {
    const { request, launcher } = setup();
    let release!: () => void;
    const launch = launcher.launch.bind(launcher);
    launcher.launch = async (spec) => {
      await new Promise<void>((resolve) => (release = resolve));
      return launch(spec);
    };
    const creating = request('POST', '/v1/calls', seedBody());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await request('DELETE', '/v1/calls/Xq2tlLcX89tTjaji')).status).toBe(202);
    release();
    expect((await creating).status).toBe(201);
    // The hangup found no task, so it ended the call at once; the launch that landed after it stopped its task.
    expect(launcher.calls.map((call) => call.op)).toEqual(['launch', 'stop']);
    expect(launcher.calls.at(-1)).toMatchObject({ taskRef: 'task-Xq2tlLcX89tTjaji' });
  });

  it('marks the call failed and answers 503 when the launcher fails', async () => {
    const { request, launcher, store } = setup();
    launcher.failLaunch = true;
    const response = await request('POST', '/v1/calls', seedBody());
    expect(response.status).toBe(503);
    expect(await store.get('Xq2tlLcX89tTjaji')).toMatchObject({ state: 'failed', failure: { reason: 'launch' } });
  });
});

describe('controlling calls', () => {
  it('DELETE records the hangup wish and asks the launcher to stop; 202', async () => {
    const { request, launcher, store } = setup();
    await request('POST', '/v1/calls', seedBody());
    const response = await request('DELETE', '/v1/calls/Xq2tlLcX89tTjaji');
    expect(response.status).toBe(202);
    expect(response.json.desiredState).toBe('ended');
    expect(launcher.calls.at(-1)).toEqual({ op: 'stop', callId: 'Xq2tlLcX89tTjaji', taskRef: 'task-Xq2tlLcX89tTjaji' });
    expect((await store.get('Xq2tlLcX89tTjaji'))?.desired).toBe('ended');
  });

  it("shows a finished call's usage; a retry of its POST after the password was dropped returns it, starting nothing", async () => {
    const { request, launcher, store } = setup();
    await request('POST', '/v1/calls', seedBody());
    const live = (await request('GET', '/v1/calls/Xq2tlLcX89tTjaji')).json;
    expect(live.usage).toBeUndefined();
    const record = (await store.get('Xq2tlLcX89tTjaji'))!;
    const endedAt = new Date(Date.parse(record.createdAt) + 90_000).toISOString();
    await store.update(
      {
        ...record,
        state: 'ended',
        stateTimes: { ...record.stateTimes, ended: endedAt },
        ended: { by: 'remote', reason: 'bye', durationSeconds: 88 },
      },
      record.version,
    );
    const finished = await request('GET', '/v1/calls/Xq2tlLcX89tTjaji');
    expect(finished.json.usage).toMatchObject({
      taskSeconds: 90,
      billableTaskSeconds: 90,
      mediaSeconds: 0,
      bytesOut: [{ url: seedBody().rtmpUrl, bytes: 0 }],
    });
    expect(finished.json.usage.estimatedCostUsd).toBeGreaterThan(0);
    expect(await store.getSecret('Xq2tlLcX89tTjaji')).toBeUndefined();
    const retry = await request('POST', '/v1/calls', seedBody());
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ callId: 'Xq2tlLcX89tTjaji', state: 'ended' });
    expect(launcher.launches).toHaveLength(1);
  });

  it('GET /v1/usage sums the finished calls created in the range, and names a bad bound', async () => {
    const { request, store } = setup();
    const finishAfter = async (callId: string, seconds: number) => {
      const record = (await store.get(callId))!;
      const at = new Date(Date.parse(record.createdAt) + seconds * 1000).toISOString();
      await store.update(
        {
          ...record,
          state: 'ended',
          stateTimes: { ...record.stateTimes, ended: at },
          ended: { by: 'local', reason: 'bye', durationSeconds: seconds },
        },
        record.version,
      );
    };
    const from = new Date(Date.now() - 60_000).toISOString();
    await request('POST', '/v1/calls', seedBody({ callId: 'u1', rtmpStream: 'u1' }));
    await request('POST', '/v1/calls', seedBody({ callId: 'u2', rtmpStream: 'u2' }));
    await request('POST', '/v1/calls', seedBody({ callId: 'u3', rtmpStream: 'u3' })); // still live: not counted
    await finishAfter('u1', 120);
    await finishAfter('u2', 30);
    const usage = await request('GET', `/v1/usage?from=${encodeURIComponent(from)}`);
    expect(usage.status).toBe(200);
    expect(usage.json).toMatchObject({ from, calls: 2, taskSeconds: 150, billableTaskSeconds: 180 });
    expect(usage.json.estimatedCostUsd).toBeCloseTo((180 / 3600) * (0.25 * 0.03238 + 0.5 * 0.00356 + 0.005), 6);
    expect(
      (await request('GET', `/v1/usage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(from)}`)).json,
    ).toMatchObject({ calls: 0 });
    const bad = await request('GET', '/v1/usage?from=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'invalid_request', field: 'from' });
    expect((await request('GET', '/v1/usage')).json.error).toMatchObject({ field: 'from' });
    expect((await request('GET', `/v1/usage?from=${encodeURIComponent(from)}&to=soon`)).json.error).toMatchObject({
      field: 'to',
    });
  });

  it('WCS terminate does the same; an unknown call is 404', async () => {
    const { request, launcher } = setup();
    await request('POST', '/rest-api/call/startup', seedBody());
    expect((await request('POST', '/rest-api/call/terminate', { callId: 'Xq2tlLcX89tTjaji' })).status).toBe(200);
    expect(launcher.calls.at(-1)).toMatchObject({ op: 'stop' });
    expect((await request('POST', '/rest-api/call/terminate', { callId: 'nope' })).status).toBe(404);
    expect((await request('DELETE', '/v1/calls/nope')).status).toBe(404);
  });

  it.each([
    [
      '/RESTCall/sendDTMF with the article\'s "dumf" spelling',
      '/RESTCall/sendDTMF',
      { callId: 'Xq2tlLcX89tTjaji', type: 'RFC2833', dumf: '311705123#' },
      'rfc4733',
    ],
    [
      '/RESTCall/sendDTMF with dtmf',
      '/RESTCall/sendDTMF',
      { callId: 'Xq2tlLcX89tTjaji', type: 'INFO', dtmf: '311705123#' },
      'info',
    ],
    [
      '/rest-api/call/send_dtmf',
      '/rest-api/call/send_dtmf',
      { callId: 'Xq2tlLcX89tTjaji', type: 'RFC2833', dtmf: '311705123#' },
      'rfc4733',
    ],
    ['/v1/calls/{id}/dtmf', '/v1/calls/Xq2tlLcX89tTjaji/dtmf', { dtmf: '311705123#', method: 'rfc4733' }, 'rfc4733'],
  ])('%s sends the digits to the task', async (_name, path, body, method) => {
    const { request, launcher } = setup();
    await request('POST', '/RESTCall/call', seedBody());
    const response = await request('POST', path, body);
    expect(response.status).toBeLessThan(300);
    expect(launcher.calls.at(-1)).toEqual({
      op: 'command',
      callId: 'Xq2tlLcX89tTjaji',
      command: { type: 'dtmf', digits: '311705123#', method },
      taskRef: 'task-Xq2tlLcX89tTjaji',
    });
  });

  it('refuses DTMF with bad digits (400), for unknown (404) and finished calls (409)', async () => {
    const { request, launcher, store } = setup();
    await request('POST', '/RESTCall/call', seedBody());
    expect(
      (await request('POST', '/RESTCall/sendDTMF', { callId: 'Xq2tlLcX89tTjaji', dtmf: '1\r\n2' })).json.error.field,
    ).toBe('dtmf');
    expect((await request('POST', '/RESTCall/sendDTMF', { callId: 'Xq2tlLcX89tTjaji' })).json.error.field).toBe('dtmf');
    expect((await request('POST', '/rest-api/call/send_dtmf', { callId: 'nope', dtmf: '1' })).status).toBe(404);
    const record = (await store.get('Xq2tlLcX89tTjaji'))!;
    await store.update({ ...record, state: 'failed', failure: { reason: 'sip', message: '486' } }, record.version);
    expect((await request('POST', '/v1/calls/Xq2tlLcX89tTjaji/dtmf', { dtmf: '1' })).status).toBe(409);
    expect(launcher.calls.filter((call) => call.op === 'command')).toEqual([]);
  });

  it('finds calls: GET, WCS find and find_all, list by state', async () => {
    const { request } = setup();
    await request('POST', '/v1/calls', seedBody());
    await request('POST', '/v1/calls', seedBody({ callId: 'two', rtmpStream: 'two' }));
    expect((await request('GET', '/v1/calls/two')).json.callId).toBe('two');
    expect((await request('GET', '/v1/calls/bad%20id')).json.error.field).toBe('callId');
    expect((await request('POST', '/rest-api/call/find', { callId: 'two' })).json).toMatchObject([{ callId: 'two' }]);
    expect((await request('POST', '/rest-api/call/find_all')).json).toHaveLength(2);
    expect((await request('GET', '/v1/calls?state=dialing')).json.calls).toHaveLength(2);
    expect((await request('GET', '/v1/calls?state=ended')).json.calls).toHaveLength(0);
    expect((await request('GET', '/v1/calls?state=bogus')).json.error.field).toBe('state');
  });

  it('lists the calls created from `from` (inclusive) to `to` (exclusive), and names a bad bound', async () => {
    const { request, store } = setup();
    await request('POST', '/v1/calls', seedBody({ callId: 'early', rtmpStream: 'early' }));
    await request('POST', '/v1/calls', seedBody({ callId: 'late', rtmpStream: 'late' }));
    const late = (await store.get('late'))!;
    const lateAt = new Date(Date.parse(late.createdAt) + 60_000).toISOString();
    await store.update({ ...late, createdAt: lateAt }, late.version);
    const ids = async (query: string) =>
      ((await request('GET', `/v1/calls?${query}`)).json.calls as { callId: string }[]).map((call) => call.callId);
    expect(await ids(`from=${encodeURIComponent(lateAt)}`)).toEqual(['late']);
    expect(await ids(`to=${encodeURIComponent(lateAt)}`)).toEqual(['early']);
    expect(await ids(`from=${encodeURIComponent(lateAt)}&to=${encodeURIComponent(lateAt)}`)).toEqual([]);
    expect(await ids(`state=dialing&from=2000-01-01`)).toEqual(['early', 'late']);
    for (const field of ['from', 'to']) {
      const bad = await request('GET', `/v1/calls?${field}=tomorrow`);
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatchObject({ code: 'invalid_request', field });
    }
  });
});

describe('secrets and access', () => {
  it('serves /metrics only when the server has metrics, and behind the API key when one is set', async () => {
    const metrics = async () => ({
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body: 'gateway_calls_started_total 3\n',
    });
    expect((await setup().request('GET', '/metrics')).status).toBe(404);
    const { app } = setup({ apiKey: 'k3y', metrics });
    expect((await app.request('/metrics')).status).toBe(401);
    const scraped = await app.request('/metrics', { headers: { authorization: 'Bearer k3y' } });
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await scraped.text()).toBe('gateway_calls_started_total 3\n');
  });

  it('never returns the SIP password, in any answer', async () => {
    const { request, answers } = setup();
    await request('POST', '/RESTCall/call', seedBody());
    await request('POST', '/RESTCall/call', seedBody());
    await request('POST', '/RESTCall/call', seedBody({ callee: 'other' }));
    await request('POST', '/v1/calls', seedBody({ callId: 'b', rtmpStream: 'b' }));
    await request('GET', '/v1/calls/Xq2tlLcX89tTjaji');
    await request('GET', '/v1/calls');
    await request('POST', '/rest-api/call/find', { callId: 'b' });
    await request('POST', '/rest-api/call/find_all');
    await request('POST', '/RESTCall/sendDTMF', { callId: 'b', dtmf: '1' });
    await request('DELETE', '/v1/calls/b');
    await request('POST', '/RESTCall/call', seedBody({}, { sipPassword: 'bad\r\npassword' + PASSWORD }));
    expect(answers.length).toBeGreaterThan(10);
    for (const answer of answers) {
      expect(answer).not.toContain(PASSWORD);
      // Errors may name the field; nothing else may carry it.
      if (!answer.startsWith('{"error"')) expect(answer).not.toMatch(/sipPassword|secret/i);
    }
  });

  it('requires the bearer API key when configured', async () => {
    const { request, launcher } = setup({ apiKey: 'k3y' });
    const denied = await request('POST', '/RESTCall/call', seedBody());
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer');
    expect((await request('GET', '/v1/calls', undefined, { authorization: 'Bearer k3x' })).status).toBe(401);
    expect((await request('GET', '/v1/calls', undefined, { authorization: 'Bearer k3y' })).status).toBe(200);
    expect((await request('GET', '/openapi.json')).status).toBe(200);
    expect(launcher.calls).toEqual([]);
  });

  describe('named API keys', () => {
    const keyOf = (name: string) => `${name}-key-0123456789abcdef`;
    const keys = fixedKeys(
      { name: 'ops', key: keyOf('ops'), maxConcurrentCalls: 2 },
      { name: 'dev', key: keyOf('dev') },
      { name: 'old', key: keyOf('old'), revoked: true },
    );
    const as = (name: string) => ({ authorization: `Bearer ${keyOf(name)}` });

    it('refuses unknown and revoked keys alike (401, no detail); every call records the name of its key', async () => {
      const { request, launcher, store } = setup({ apiKeys: keys });
      const refusals = [
        await request('POST', '/v1/calls', seedBody({ callId: 'k0' })),
        await request('POST', '/v1/calls', seedBody({ callId: 'k0' }), as('nobody')),
        await request('POST', '/v1/calls', seedBody({ callId: 'k0' }), as('old')),
        await request('GET', '/v1/calls', undefined, { authorization: keyOf('ops') }),
      ];
      for (const refusal of refusals) {
        expect(refusal.status).toBe(401);
        expect(refusal.json).toEqual({ error: { code: 'unauthorized', message: 'missing or wrong API key' } });
      }
      expect(launcher.calls).toEqual([]);
      expect(await store.list()).toEqual([]);

      const ops = await request('POST', '/v1/calls', seedBody({ callId: 'k1', rtmpStream: 'k1' }), as('ops'));
      const dev = await request('POST', '/RESTCall/call', seedBody({ callId: 'k2', rtmpStream: 'k2' }), as('dev'));
      expect([ops.status, dev.status]).toEqual([201, 200]);
      expect(ops.json).toMatchObject({ callId: 'k1', keyName: 'ops' });
      expect(dev.json).toMatchObject({ callId: 'k2', keyName: 'dev' });
      expect((await store.get('k1'))?.keyName).toBe('ops');
      expect((await request('GET', '/v1/calls/k2', undefined, as('ops'))).json.keyName).toBe('dev');
      // Any valid key sees and ends any call: keys name who started a call, they do not fence calls off.
      expect((await request('DELETE', '/v1/calls/k2', undefined, as('ops'))).status).toBe(202);
    });

    it('answers 429 naming the limit once a key has its maximum of live calls, starting nothing', async () => {
      const { request, launcher, store } = setup({ apiKeys: keys });
      for (const id of ['l1', 'l2'])
        expect((await request('POST', '/v1/calls', seedBody({ callId: id, rtmpStream: id }), as('ops'))).status).toBe(
          201,
        );
      const over = await request(
        'POST',
        '/rest-api/call/startup',
        seedBody({ callId: 'l3', rtmpStream: 'l3' }),
        as('ops'),
      );
      expect(over).toMatchObject({
        status: 429,
        json: { error: { code: 'concurrency_limit', message: 'key "ops" allows 2 concurrent calls', limit: 2 } },
      });
      expect(await store.get('l3')).toBeUndefined();
      // A retry of an accepted call is answered with it; another key is not held back.
      expect((await request('POST', '/v1/calls', seedBody({ callId: 'l1', rtmpStream: 'l1' }), as('ops'))).status).toBe(
        200,
      );
      expect((await request('POST', '/v1/calls', seedBody({ callId: 'l4', rtmpStream: 'l4' }), as('dev'))).status).toBe(
        201,
      );
      expect(launcher.launches.map((launch) => launch.spec.callId)).toEqual(['l1', 'l2', 'l4']);
    });

    it('GET /v1/usage sums the finished calls per key, as their records add up; key= keeps one key', async () => {
      const { request, store } = setup({ apiKeys: keys });
      const from = new Date(Date.now() - 60_000).toISOString();
      const started: [string, string][] = [
        ['u1', 'ops'],
        ['u2', 'ops'],
        ['u3', 'dev'],
        ['u4', 'dev'], // stays live: not counted
      ];
      for (const [callId, key] of started)
        await request('POST', '/v1/calls', seedBody({ callId, rtmpStream: callId }), as(key));
      // A call no key started (no-key mode, or from before keys).
      const { record, secret } = newCallRecord(makeSpec({ callId: 'u5' }), new Date().toISOString());
      await store.create({ ...record, taskRef: 'task-u5' }, secret);
      const finish = async (callId: string, seconds: number, bytes: number) => {
        const current = (await store.get(callId))!;
        const at = (s: number) => new Date(Date.parse(current.createdAt) + s * 1000).toISOString();
        await store.update(
          {
            ...current,
            state: 'ended',
            stateTimes: { ...current.stateTimes, streaming: at(4), ended: at(seconds) },
            ended: { by: 'remote', reason: 'bye', durationSeconds: seconds },
            stats: { rtpPackets: 1, rtpLost: 0, jitterMs: 0, bytesOut: bytes, at: at(seconds) },
          },
          current.version,
        );
      };
      await finish('u1', 120, 1_000_000);
      await finish('u2', 30, 2_000_000);
      await finish('u3', 3_600, 250_000_000);
      await finish('u5', 90, 5_000);

      const sumsOf = (records: CallRecord[]) => {
        const usages = records.map((r) => callUsage(r, LIST_PRICES)!);
        return {
          calls: usages.length,
          taskSeconds: usages.reduce((sum, u) => sum + u.taskSeconds, 0),
          billableTaskSeconds: usages.reduce((sum, u) => sum + u.billableTaskSeconds, 0),
          mediaSeconds: usages.reduce((sum, u) => sum + u.mediaSeconds, 0),
          bytesOut: usages.reduce((sum, u) => sum + u.bytesOut.reduce((s, d) => s + d.bytes, 0), 0),
          estimatedCostUsd: usages.reduce((sum, u) => sum + u.estimatedCostUsd, 0),
        };
      };
      const finished = await store.list({ live: false });
      // Sums of rounded per-call figures, added in another order: equal to the last few bits.
      const expectTotals = (actual: Record<string, number>, records: CallRecord[]) => {
        for (const [field, value] of Object.entries(sumsOf(records)))
          expect(actual[field], field).toBeCloseTo(value, 6);
      };

      const all = await request('GET', `/v1/usage?from=${encodeURIComponent(from)}`, undefined, as('dev'));
      expect(all.status).toBe(200);
      expectTotals(all.json, finished);
      expect(all.json.calls).toBe(4);
      expect(all.json.byKey.map((entry: { keyName: string | null }) => entry.keyName)).toEqual(['dev', 'ops', null]);
      for (const entry of all.json.byKey)
        expectTotals(
          entry,
          finished.filter((r) => (r.keyName ?? null) === entry.keyName),
        );

      const ops = await request('GET', `/v1/usage?from=${encodeURIComponent(from)}&key=ops`, undefined, as('dev'));
      expect(ops.json).toMatchObject({ key: 'ops', calls: 2, taskSeconds: 150, billableTaskSeconds: 180 });
      const { from: _from, to: _to, key: _key, byKey, ...totals } = ops.json;
      expect(byKey).toEqual([{ keyName: 'ops', ...totals }]);
      const none = await request('GET', `/v1/usage?from=${encodeURIComponent(from)}&key=gone`, undefined, as('dev'));
      expect(none.json).toMatchObject({ key: 'gone', calls: 0, estimatedCostUsd: 0, byKey: [] });
      const bad = await request('GET', `/v1/usage?from=${encodeURIComponent(from)}&key=a%20b`, undefined, as('dev'));
      expect(bad).toMatchObject({ status: 400, json: { error: { code: 'invalid_request', field: 'key' } } });
    });

    it('prices usage with the configured table, in call views and in GET /v1/usage', async () => {
      const pricing = { ...LIST_PRICES, vcpuHourUsd: 1, gbHourUsd: 0, ipv4HourUsd: 0, dataOutGbUsd: 0 };
      const { request, store } = setup({ pricing });
      const from = new Date(Date.now() - 60_000).toISOString();
      await request('POST', '/v1/calls', seedBody({ callId: 'p1', rtmpStream: 'p1' }));
      const current = (await store.get('p1'))!;
      const endedAt = new Date(Date.parse(current.createdAt) + 3_600_000).toISOString();
      await store.update(
        {
          ...current,
          state: 'ended',
          stateTimes: { ...current.stateTimes, ended: endedAt },
          ended: { by: 'local', reason: 'bye', durationSeconds: 3_600 },
        },
        current.version,
      );
      // An hour of a quarter vCPU at $1 per vCPU-hour, nothing else.
      expect((await request('GET', '/v1/calls/p1')).json.usage.estimatedCostUsd).toBeCloseTo(0.25, 6);
      expect((await request('GET', `/v1/usage?from=${encodeURIComponent(from)}`)).json.estimatedCostUsd).toBeCloseTo(
        0.25,
        6,
      );
    });
  });

  describe('without an API key, requests browsers send for other sites are refused (403) before anything launches', () => {
    const post = (app: ReturnType<typeof setup>['app'], url: string, headers: Record<string, string> = {}) =>
      app.request(url, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', ...headers },
        body: JSON.stringify(seedBody()),
      });

    it.each([
      ['another site', 'https://evil.example'],
      ['the same host on another port', 'http://127.0.0.1:9'],
      ['a sandboxed frame or a file', 'null'],
    ])('Origin of %s', async (_name, origin) => {
      const { app, launcher } = setup();
      const answer = await post(app, 'http://127.0.0.1:9091/RESTCall/call', { origin });
      expect(answer.status).toBe(403);
      expect(await answer.json()).toMatchObject({
        error: { code: 'cross_site_request', message: expect.stringContaining('Origin') },
      });
      expect(launcher.calls).toEqual([]);
    });

    it.each(['rebound.example', '10.0.0.5', '127.0.0.1.nip.io'])(
      'a loopback-only server asked for %s (DNS rebinding)',
      async (host) => {
        const { app, launcher } = setup({ loopbackOnly: true });
        const answer = await post(app, `http://${host}:9091/RESTCall/call`, { origin: `http://${host}:9091` });
        expect(answer.status).toBe(403);
        expect(await answer.json()).toMatchObject({
          error: { code: 'cross_site_request', message: expect.stringContaining(host) },
        });
        expect(launcher.calls).toEqual([]);
      },
    );

    it.each([
      ['a script (no Origin) to 127.0.0.1', 'http://127.0.0.1:9091', {}],
      ['the console page (its own origin) to localhost', 'http://localhost:9091', { origin: 'http://localhost:9091' }],
      ['a script to [::1]', 'http://[::1]:9091', {}],
    ])('takes %s', async (_name, base, headers) => {
      const { app, launcher } = setup({ loopbackOnly: true });
      expect((await post(app, `${base}/RESTCall/call`, headers)).status).toBe(200);
      expect(launcher.calls).toHaveLength(1);
    });

    it('leaves webhooks, which check their own signatures, to them: a tunnel brings them under its own name', async () => {
      const { app, launcher } = setup({ loopbackOnly: true });
      const answer = await post(app, 'https://abc123.tunnel.example/webhooks/trigger');
      expect((await answer.json()).error.code).not.toBe('cross_site_request');
      expect(launcher.calls).toEqual([]);
    });

    it('leaves both to the key when there is one', async () => {
      const { app, launcher } = setup({ apiKey: 'k3y', loopbackOnly: true });
      const answer = await post(app, 'http://rebound.example/RESTCall/call', {
        origin: 'https://evil.example',
        authorization: 'Bearer k3y',
      });
      expect(answer.status).toBe(200);
      expect(launcher.calls).toHaveLength(1);
    });
  });

  it('serves an OpenAPI document generated from the request schemas', async () => {
    const { request } = setup();
    const { status, json } = await request('GET', '/openapi.json');
    expect(status).toBe(200);
    expect(Object.keys(json.paths)).toEqual(
      expect.arrayContaining(['/v1/calls', '/v1/calls/{callId}', '/RESTCall/call', '/rest-api/call/send_dtmf']),
    );
    const body = json.paths['/RESTCall/call'].post.requestBody.content['application/json'].schema;
    expect(JSON.stringify(body)).toContain('sipDomain');
    // The failure reasons are the shared list (FAILURE_REASONS), `launch` included.
    expect(JSON.stringify(json)).toContain(`"reason":{"type":"string","enum":${JSON.stringify(FAILURE_REASONS)}}`);
    expect(FAILURE_REASONS).toContain('launch');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const { request } = setup();
    expect((await request('GET', '/nope')).json.error.code).toBe('not_found');
  });
});
