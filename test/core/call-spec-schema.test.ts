import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/call-errors.ts';
import {
  equalStrings,
  sameRequest,
  splitSecret,
  streamKeyOf,
  toCallView,
  newCallRecord,
} from '../../functions/core/call-record.ts';
import { LIST_PRICES } from '../../functions/core/call-usage.ts';
import {
  callRequestSchema,
  hostName,
  isBlockedAddress,
  isHostOrIp,
  parseCallSpec,
  parseOrThrow,
  rtmpUrlProblem,
  toCallSpec,
  wcsCallRequestSchema,
} from '../../shared/call-spec-schema.ts';

const seed = {
  callId: 'Xq2tlLcX89tTjaji',
  callee: '10050',
  rtmpUrl: 'rtmp://45.101.139.105:1935/live',
  rtmpStream: 'lifestream1',
  hasAudio: 'true',
  hasVideo: 'false',
  connection: {
    sipLogin: '10051',
    sipPassword: '15001',
    sipAuthenticationName: '10051',
    sipDomain: '87.222.225.52',
    sipPort: '5080',
    sipRegisterRequired: 'false',
    appKey: 'callApp',
  },
};

describe('call request schema', () => {
  it('normalizes the article body: string booleans and ports, defaults filled in', () => {
    const spec = toCallSpec(parseOrThrow(wcsCallRequestSchema, seed), () => 'unused');
    expect(spec).toEqual({
      callId: 'Xq2tlLcX89tTjaji',
      callee: '10050',
      rtmpUrl: 'rtmp://45.101.139.105:1935/live',
      rtmpStream: 'lifestream1',
      hasAudio: true,
      hasVideo: false,
      maxDurationSeconds: 14_400,
      rtpTimeoutSeconds: 30,
      connection: {
        sipLogin: '10051',
        sipPassword: '15001',
        sipAuthenticationName: '10051',
        sipDomain: '87.222.225.52',
        sipPort: 5080,
        sipRegisterRequired: false,
        transport: 'udp',
        appKey: 'callApp',
      },
    });
  });

  it.each([
    ['JSON booleans and numbers', { hasAudio: false, hasVideo: true }, { sipPort: 5060, sipRegisterRequired: true }],
    [
      'a Twilio-style hostname domain over TLS',
      {},
      { sipDomain: 'acme.sip.twilio.com', transport: 'tls', sipPort: '5061' },
    ],
    ['an IPv6 domain with brackets', {}, { sipDomain: '[2001:db8::1]' }],
    ['an IPv6 domain without brackets', {}, { sipDomain: '2001:db8::1' }],
    ['an E.164 callee', { callee: '+15551234567' }, {}],
    ['a callee with URI parameters', { callee: '311705123;phone-context=example.com' }, {}],
    ['an escaped callee', { callee: 'conf%20room' }, {}],
    ['rtmps with a path and query', { rtmpUrl: 'rtmps://live.example.com:443/app/sub?token=abc' }, {}],
    ['loopback RTMP (local nginx-rtmp)', { rtmpUrl: 'rtmp://127.0.0.1:1935/live' }, {}],
    ['IPv6 RTMP host', { rtmpUrl: 'rtmp://[2001:db8::2]:1935/live' }, {}],
    ['dtmf with pauses', { dtmf: '311705123#,,w*' }, {}],
    ['a password with spaces and quotes', {}, { sipPassword: 'a "b" c<>' }],
    ['an empty password (no auth)', {}, { sipPassword: '' }],
    ['no sipAuthenticationName: falls back to sipLogin', {}, { sipAuthenticationName: undefined }],
  ])('accepts %s', (_name, top, connection) => {
    const body = { ...seed, ...top, connection: { ...seed.connection, ...connection } };
    const spec = toCallSpec(parseOrThrow(wcsCallRequestSchema, body), () => 'x');
    expect(spec.callId).toBe(seed.callId);
    expect(spec.connection.sipAuthenticationName).toBe('10051'); // given, or defaulted to sipLogin
  });

  it('generates a callId when the native body has none', () => {
    const { callId: _omit, ...body } = seed;
    expect(toCallSpec(parseOrThrow(callRequestSchema, body), () => 'gen-1').callId).toBe('gen-1');
  });

  it('names the nested field of the first problem', () => {
    const error = (() => {
      try {
        parseOrThrow(wcsCallRequestSchema, { ...seed, connection: { ...seed.connection, sipPort: '70000' } });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'connection.sipPort', message: expect.stringContaining('65535') });
  });

  // zod's functional build has no messages of its own ("Invalid input"): a schema without one would tell the
  // media task, which loads no other zod, less than it tells the API.
  it.each([
    ['connection is no object', { connection: 'x' }, 'connection must be an object'],
    ['a destination is no object', { destinations: [1] }, 'destinations.0 must be an object {url, stream}'],
    ['destinations is no array', { destinations: 'x' }, 'destinations must be an array of {url, stream}'],
    [
      'a port with a fraction',
      { connection: { ...seed.connection, sipPort: 5060.5 } },
      'connection.sipPort must be a whole number',
    ],
    ['a boolean as a word', { hasAudio: 'yes' }, 'hasAudio must be true or false'],
    ['a number as an object', { maxDurationSeconds: {} }, 'maxDurationSeconds must be a number'],
    ['an unknown video mode', { video: 'hd' }, 'video must be slate, waveform or none'],
  ])('says in its own words what is wrong: %s', (_name, top, message) => {
    expect(() => parseCallSpec({ ...seed, ...top })).toThrow(expect.objectContaining({ message }));
  });

  it.each([
    [true, true],
    ['true', true],
    [false, undefined],
    ['false', undefined],
    [undefined, undefined],
  ])('takes record %j as the other booleans, and keeps it only when true', (record, kept) => {
    for (const schema of [callRequestSchema, wcsCallRequestSchema]) {
      const spec = toCallSpec(parseOrThrow(schema, { ...seed, record }), () => 'x');
      expect(spec.record).toBe(kept);
      expect(spec).not.toHaveProperty('recordingId');
    }
  });

  it.each([['yes'], [1], ['TRUE'], [null], [{}]])('refuses record %j with a 400 naming it', (record) => {
    for (const schema of [callRequestSchema, wcsCallRequestSchema]) {
      expect(() => parseOrThrow(schema, { ...seed, record })).toThrow(
        expect.objectContaining({ field: 'record', message: 'record must be true or false' }),
      );
    }
  });

  it('takes no recordingId from a request: the server names recordings', () => {
    const recordingId = '3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41';
    for (const schema of [callRequestSchema, wcsCallRequestSchema]) {
      expect(() => parseOrThrow(schema, { ...seed, record: true, recordingId })).toThrow(
        expect.objectContaining({ field: 'recordingId', message: 'unknown field recordingId' }),
      );
    }
  });

  it('hands the task the recording id the server made, and nothing but a UUID', () => {
    const spec = toCallSpec(parseOrThrow(wcsCallRequestSchema, { ...seed, record: true }), () => 'x');
    const recordingId = '3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41';
    expect(parseCallSpec({ ...spec, recordingId })).toMatchObject({ record: true, recordingId });
    expect(() => parseCallSpec({ ...spec, recordingId: '../../etc/passwd' })).toThrow(/recordingId/);
    expect(() => parseCallSpec({ ...spec, recordingId: recordingId.toUpperCase() })).toThrow(/recordingId/);
    expect(() => parseCallSpec(spec)).toThrow(
      expect.objectContaining({ message: 'recordingId is required with record' }),
    );
  });

  it('parseCallSpec accepts a normalized spec (what the launcher hands the task) and refuses a hostile one', () => {
    const spec = toCallSpec(parseOrThrow(wcsCallRequestSchema, seed), () => 'x');
    expect(parseCallSpec(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
    expect(() => parseCallSpec({ ...spec, callee: 'a\r\nb' })).toThrow(ValidationError);
    expect(() => parseCallSpec({ ...spec, callId: undefined })).toThrow(/callId/);
  });
});

describe('hosts and RTMP targets', () => {
  it.each([
    ['example.com', true],
    ['sub-1.example.co.uk.', true],
    ['10.0.0.1', true],
    ['[::1]', true],
    ['fe80::1', true],
    ['999.1.1.1', false],
    ['1.2.3', false],
    ['a..b', false],
    ['a_b.com', false],
    ['-a.com', false],
    ['a'.repeat(64) + '.com', false],
    ['', false],
  ])('isHostOrIp(%j) = %s', (host, valid) => expect(isHostOrIp(host)).toBe(valid));

  it.each([
    'rtmp://169.254.169.254/live',
    'rtmp://169.254.0.1:1935/live',
    'rtmp://0251.0376.0251.0376/live',
    'rtmp://0xa9fea9fe/live',
    'rtmp://[::ffff:a9fe:a9fe]/live',
    'rtmp://[FE80::abcd]/live',
    'rtmp://[febf::1]/live',
    'rtmp://[fd00:ec2:0::254]/live',
    'rtmps://metadata.google.internal:443/x',
  ])('blocks %s', (url) => expect(rtmpUrlProblem(url)).toMatch(/link-local|metadata/));

  it.each([
    'rtmp://169.253.1.1/live',
    'rtmp://[fec0::1]/live',
    'rtmp://100.100.100.201/live',
    'rtmp://metadata.google.internal.example.com/live',
  ])('allows the neighbour %s', (url) => expect(rtmpUrlProblem(url)).toBeUndefined());

  const withDomain = (sipDomain: string) =>
    wcsCallRequestSchema.safeParse({ ...seed, connection: { ...seed.connection, sipDomain } });

  it.each([
    '169.254.169.254',
    '0xa9fea9fe',
    'fd00:ec2::254',
    '[FE80::1]',
    '[::ffff:a9fe:a9fe]',
    'instance-data.ec2.internal.',
  ])('blocks the SIP domain %s', (domain) => {
    const result = withDomain(domain);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['connection', 'sipDomain'],
      message: expect.stringMatching(/link-local|metadata/),
    });
  });

  it.each(['[::1', 'bad domain', 'a..b'])(
    'names only what is wrong with the SIP domain %s: it is no host at all',
    (domain) => {
      const issues = withDomain(domain).error?.issues ?? [];
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({
        path: ['connection', 'sipDomain'],
        message: expect.stringMatching(/must be a hostname/),
      });
    },
  );

  it.each(['169.253.1.1', 'fec0::1', '100.100.100.201', 'metadata.google.internal.example.com'])(
    'allows the neighbouring SIP domain %s',
    (domain) => expect(withDomain(domain).success).toBe(true),
  );

  it.each([
    ['169.254.169.254', true],
    ['169.254.170.2', true],
    ['100.100.100.200', true],
    ['fe80::1%eth0', true],
    ['FD00:EC2::254', true],
    ['::ffff:169.254.169.254', true],
    ['64:ff9b::169.254.169.254', true],
    ['64:ff9b::a9fe:a9fe', true],
    ['64:ff9b:1:a9fe:a9:fe00::', true],
    ['64:ff9b::a9fd:a9fe', false],
    ['64:ff9b:1:a9fd:a9:fe00::', false],
    ['64:ff9b:2::a9fe:a9fe', false],
    ['169.253.255.255', false],
    ['10.0.0.1', false],
    ['127.0.0.1', false],
    ['2001:db8::1', false],
  ])('a resolver answer %s is blocked: %s', (address, blocked) => expect(isBlockedAddress(address)).toBe(blocked));

  it.each([
    ['rtmp://CDN.Example.com.:1935/live', 'cdn.example.com'],
    ['https://hooks.example.com/x', 'hooks.example.com'],
    ['pbx.example.com', 'pbx.example.com'],
    ['rtmp://203.0.113.5/live', undefined],
    ['rtmp://2852039166/live', undefined],
    ['rtmp://[2001:db8::1]:1935/live', undefined],
    ['10.0.0.1', undefined],
    ['2001:db8::1', undefined],
  ])('the name to resolve in %s is %s', (target, name) => expect(hostName(target)).toBe(name));
});

describe('call records', () => {
  const spec = toCallSpec(parseOrThrow(wcsCallRequestSchema, seed), () => 'x');
  const T = '2026-01-01T00:00:00.000Z';

  it('keeps the password out of the record and the view', () => {
    const { record, secret } = newCallRecord(spec, '2026-01-01T00:00:00.000Z');
    expect(secret).toEqual({ sipPassword: '15001' });
    expect(JSON.stringify(record)).not.toContain('15001');
    expect(
      JSON.stringify(
        toCallView(
          {
            ...record,
            spec: { ...record.spec, connection: { ...record.spec.connection, sipPassword: 'leak' } as never },
          },
          LIST_PRICES,
        ),
      ),
    ).not.toContain('leak');
  });

  it('treats differently spelled URLs of one publish point as one stream key', () => {
    const key = streamKeyOf({ rtmpUrl: 'rtmp://45.101.139.105:1935/live', rtmpStream: 'a' });
    expect(streamKeyOf({ rtmpUrl: 'RTMP://45.101.139.105/live/', rtmpStream: 'a' })).toBe(key);
    expect(streamKeyOf({ rtmpUrl: 'rtmp://45.101.139.105/live', rtmpStream: 'A' })).not.toBe(key);
    expect(streamKeyOf({ rtmpUrl: 'rtmps://h/live', rtmpStream: 'a' })).toBe('rtmps://h:443/live/a');
  });

  it('recognizes the same request, password included', () => {
    const { record, secret } = newCallRecord(spec, '2026-01-01T00:00:00.000Z');
    expect(sameRequest(record, secret, spec)).toBe(true);
    expect(sameRequest(record, secret, { ...spec, connection: { ...spec.connection, sipPassword: 'x' } })).toBe(false);
    expect(sameRequest(record, secret, { ...spec, hasVideo: true })).toBe(false);
    expect(splitSecret(spec).spec.connection).not.toHaveProperty('sipPassword');
  });

  it('judges a retry on what was asked: the recording id is made anew for every request', () => {
    const recorded = { ...spec, record: true };
    const { record, secret } = newCallRecord({ ...recorded, recordingId: '3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41' }, T);
    expect(sameRequest(record, secret, recorded)).toBe(true);
    expect(sameRequest(record, secret, spec)).toBe(false);
  });

  it('shows whether the call is recorded, and what became of the recording, never its id', () => {
    const recordingId = '3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41';
    const { record } = newCallRecord({ ...spec, record: true, recordingId }, T);
    expect(toCallView(record, LIST_PRICES)).toMatchObject({ record: true });
    expect(toCallView(record, LIST_PRICES)).not.toHaveProperty('recording');
    const recording = { state: 'uploaded' as const, bytes: 42, key: `recordings/${recordingId}.mp4`, at: T, seq: 9 };
    const view = toCallView({ ...record, recording }, LIST_PRICES);
    expect(view.recording).toEqual({ state: 'uploaded', bytes: 42, at: T });
    expect(JSON.stringify(view)).not.toContain(recordingId);
    expect(toCallView(newCallRecord(spec, T).record, LIST_PRICES).record).toBe(false);
  });

  it.each([
    ['', '', true],
    ['abc', 'abc', true],
    ['abc', 'abd', false],
    ['abc', 'ab', false],
    ['', 'a', false],
  ])('equalStrings(%j, %j) = %s', (a, b, equal) => expect(equalStrings(a, b)).toBe(equal));
});
