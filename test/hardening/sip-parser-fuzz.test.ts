/**
 * In-process fuzzing of everything that reads what a SIP peer sends: framing (datagram and stream), the
 * `sip` package's parser behind parseSipFrame, and our dialog, SDP and digest code fed with what came out.
 * Allowed outcomes: a value, `undefined` (dropped), or one of our documented errors; never another throw,
 * never a rejection, never a slow message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestError, chooseChallenge, parseChallenge } from '../../media-task/sip/digest.ts';
import { Dialog } from '../../media-task/sip/dialog.ts';
import { SdpError, answerReoffer, parseAnswer } from '../../media-task/sip/sdp.ts';
import { ChallengeResponder } from '../../media-task/sip/sip-auth.ts';
import { SipHeaderError } from '../../media-task/sip/sip-errors.ts';
import { SipFramingError, StreamFramer, frameDatagram, type SipFrame } from '../../media-task/sip/sip-framing.ts';
import { parseSipFrame, type IncomingRequest, type IncomingResponse } from '../../media-task/sip/sip-stack.ts';
import { Prng, fuzzSettings, garbageSdp, mutate } from './fuzz.ts';

const SDP = [
  'v=0',
  'o=peer 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=sendrecv',
  '',
].join('\r\n');
const common = (method: string, seq = 1) => [
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport',
  'From: "Gateway" <sip:gw@127.0.0.1>;tag=ours',
  'To: <sip:bob@127.0.0.1>;tag=theirs',
  'Call-ID: call-1@127.0.0.1',
  `CSeq: ${seq} ${method}`,
];
const message = (startLine: string, headers: string[], body = '') =>
  [startLine, ...headers, `Content-Length: ${body.length}`, '', body].join('\r\n');

/** Valid messages of every kind our UA receives; each iteration damages one of them. */
const CORPUS = [
  message('SIP/2.0 100 Trying', common('INVITE')),
  message('SIP/2.0 180 Ringing', [...common('INVITE'), 'Contact: <sip:bob@127.0.0.1:5070>']),
  message(
    'SIP/2.0 200 OK',
    [
      ...common('INVITE'),
      'Contact: <sip:bob@127.0.0.1:5070>',
      'Record-Route: <sip:p1.example;lr>, <sip:127.0.0.1:5080;lr>',
      'Content-Type: application/sdp',
    ],
    SDP,
  ),
  message('SIP/2.0 401 Unauthorized', [
    ...common('INVITE'),
    'WWW-Authenticate: Digest realm="r", nonce="n1", qop="auth", algorithm=MD5, opaque="o"',
  ]),
  message('SIP/2.0 407 Proxy Authentication Required', [
    ...common('INVITE'),
    'Proxy-Authenticate: Digest realm="r", nonce="n2", algorithm=SHA-256',
  ]),
  message('SIP/2.0 486 Busy Here', common('INVITE')),
  message('BYE sip:gw@127.0.0.1:5060 SIP/2.0', [
    ...common('BYE', 2).map((line) =>
      line
        .replace('From: "Gateway" <sip:gw@127.0.0.1>;tag=ours', 'From: <sip:bob@127.0.0.1>;tag=theirs')
        .replace('To: <sip:bob@127.0.0.1>;tag=theirs', 'To: <sip:gw@127.0.0.1>;tag=ours'),
    ),
  ]),
  message(
    'INVITE sip:gw@127.0.0.1:5060 SIP/2.0',
    [
      ...common('INVITE', 3),
      'Contact: <sip:bob@127.0.0.1:5070>',
      'Session-Expires: 1800;refresher=uac',
      'Content-Type: application/sdp',
    ],
    SDP.replace('a=sendrecv', 'a=sendonly'),
  ),
  message(
    'INFO sip:gw@127.0.0.1:5060 SIP/2.0',
    [...common('INFO', 4), 'Content-Type: application/dtmf-relay'],
    'Signal=5\r\nDuration=160\r\n',
  ),
  message('OPTIONS sip:gw@127.0.0.1:5060 SIP/2.0', common('OPTIONS', 5)),
  message('UPDATE sip:gw@127.0.0.1:5060 SIP/2.0', [...common('UPDATE', 6), 'Content-Type: application/sdp'], SDP),
];

const ALLOWED_ERRORS = [SipFramingError, SdpError, DigestError, SipHeaderError];
const local = {
  address: '127.0.0.1',
  audio: { port: 40000, direction: 'sendrecv' as const },
  video: { port: 40002, direction: 'recvonly' as const },
};

/** Runs `action`; an error of an allowed class counts as a clean refusal, any other is rethrown. */
function refusesCleanly<T>(action: () => T): T | undefined {
  try {
    return action();
  } catch (error) {
    if (ALLOWED_ERRORS.some((kind) => error instanceof kind)) return undefined;
    throw error;
  }
}

/** What our UA does with a message from the peer, short of sending anything. */
function consume(parsed: IncomingRequest | IncomingResponse): void {
  const dialog = new Dialog({
    callId: 'call-1@127.0.0.1',
    localTag: 'ours',
    localUri: 'sip:gw@127.0.0.1',
    requestUri: 'sip:bob@127.0.0.1:5070',
  });
  if ('status' in parsed) {
    dialog.establish(parsed);
    dialog.isSameRemote(parsed);
    dialog.request('BYE', dialog.nextSeq(), { uri: 'sip:gw@127.0.0.1', params: {} }, {});
    chooseChallenge([...parsed.challenges.www, ...parsed.challenges.proxy]);
    parsed.challenges.www.forEach((value) => parseChallenge(value));
    const request = dialog.invite(1, { uri: 'sip:gw@127.0.0.1', params: {} }, {}, '');
    refusesCleanly(() => new ChallengeResponder({ username: 'alice', password: 'pw' }).answer(parsed, request));
    refusesCleanly(() => parseAnswer(parsed.body));
  } else {
    dialog.establish({
      status: 200,
      reason: 'OK',
      headers: { ...parsed.headers, to: parsed.headers.from },
      body: '',
      challenges: { www: [], proxy: [] },
      local: false,
    });
    dialog.matches(parsed);
    dialog.acceptRemoteSeq(parsed.headers.cseq.seq);
    dialog.refreshTarget(parsed);
    refusesCleanly(() => answerReoffer(parsed.body, local, 2));
  }
}

describe('hostile SIP in process', () => {
  const problems: unknown[] = [];
  const onProblem = (error: unknown) => problems.push(error);
  beforeAll(() => {
    process.on('uncaughtException', onProblem);
    process.on('unhandledRejection', onProblem);
  });
  afterAll(() => {
    process.off('uncaughtException', onProblem);
    process.off('unhandledRejection', onProblem);
  });

  it('mutated messages are parsed or dropped, never thrown, never slow', async () => {
    const { seed, iterations } = fuzzSettings('sip parser fuzz', 4000);
    const random = new Prng(seed);
    const counts = { parsed: 0, dropped: 0, framingRefused: 0 };
    let slowest = { ms: 0, applied: [] as string[] };
    for (let iteration = 0; iteration < iterations; iteration++) {
      const base = random.pick(CORPUS);
      const { text, applied } = random.chance(0.1)
        ? { text: base.replace(SDP, garbageSdp(random).sdp), applied: ['garbageSdp'] }
        : mutate(base, random);
      const context = `seed ${seed}, iteration ${iteration}, ${applied.join('+')}`;
      const started = performance.now();
      try {
        const frame: SipFrame | undefined = refusesCleanly(() => frameDatagram(text));
        const framer = new StreamFramer();
        for (let at = 0; at < text.length;) {
          const size = 1 + random.int(1500);
          if (refusesCleanly(() => framer.push(text.slice(at, at + size))) === undefined) break;
          at += size;
        }
        if (!frame) {
          counts.framingRefused++;
          continue;
        }
        const parsed = parseSipFrame(frame);
        if (!parsed) {
          counts.dropped++;
          continue;
        }
        counts.parsed++;
        consume(parsed);
      } catch (error) {
        throw new Error(`${context}: ${(error as Error).stack}`, { cause: error });
      } finally {
        const ms = performance.now() - started;
        if (ms > slowest.ms) slowest = { ms, applied };
      }
    }
    // Let anything scheduled by the code under test run, so a late rejection is seen here.
    await new Promise((resolve) => setImmediate(resolve));
    console.log(
      `sip parser fuzz: ${JSON.stringify(counts)}, slowest ${slowest.ms.toFixed(1)} ms (${slowest.applied.join('+')})`,
    );
    expect(problems).toEqual([]);
    expect(counts.parsed).toBeGreaterThan(iterations / 10);
    expect(slowest.ms).toBeLessThan(250);
  });

  it.each([
    ['one 60 KB datagram of spaces', () => refusesCleanly(() => frameDatagram(' '.repeat(60_000)))],
    [
      '60 KB of spaces on a stream in 100-byte segments',
      () => {
        const framer = new StreamFramer();
        for (let sent = 0; sent < 60_000; sent += 100) framer.push(' '.repeat(100));
      },
    ],
    [
      'a stream header block that never ends',
      () => {
        const framer = new StreamFramer();
        for (let sent = 0; sent < 60_000; sent += 100) refusesCleanly(() => framer.push('X'.repeat(100)));
      },
    ],
    [
      'a 4 KB Via line of repeated "SIP/2.0/"',
      () => parseSipFrame({ head: `SIP/2.0 200 OK\r\nVia: ${'SIP/2.0/'.repeat(500)}`, body: '' }),
    ],
  ])("%s takes milliseconds (the package's framing took seconds to minutes)", (_name, action) => {
    const started = performance.now();
    action();
    expect(performance.now() - started).toBeLessThan(100);
  });

  it.each([
    ['a non-numeric Content-Length', 'abc'],
    ['a negative Content-Length', '-1'],
    ['a Content-Length beyond the body limit', '99999999'],
  ])('a stream with %s is refused (the package waited for it forever)', (_name, value) => {
    const framer = new StreamFramer();
    expect(() => framer.push(`SIP/2.0 200 OK\r\nContent-Length: ${value}\r\n\r\n`)).toThrow(SipFramingError);
  });

  it('a stream still frames back-to-back messages cut anywhere', () => {
    const text = CORPUS.join('\r\n');
    const framer = new StreamFramer();
    const frames: SipFrame[] = [];
    for (let at = 0; at < text.length; at += 7) frames.push(...framer.push(text.slice(at, at + 7)));
    expect(frames).toHaveLength(CORPUS.length);
    expect(frames.every((frame) => parseSipFrame(frame) !== undefined)).toBe(true);
  });

  it.each([
    ['status 999', 'SIP/2.0 999 Nine'],
    ['status 0', 'SIP/2.0 0 Zero'],
  ])('%s is dropped (RFC 3261 section 7.2: classes 1xx-6xx)', (_name, startLine) => {
    expect(parseSipFrame(frameDatagram(message(startLine, common('INVITE'))))).toBeUndefined();
  });

  it.each([
    ['CSeq 2**31', '2147483648 BYE'],
    ['CSeq without method', '5'],
  ])('%s is dropped (RFC 3261 section 8.1.1.5)', (_name, value) => {
    const text = message(
      'BYE sip:gw@127.0.0.1 SIP/2.0',
      common('BYE').map((line) => (line.startsWith('CSeq') ? `CSeq: ${value}` : line)),
    );
    expect(parseSipFrame(frameDatagram(text))).toBeUndefined();
  });

  it('a NUL in a Contact URI is refused at framing, before it can reach a Request-URI', () => {
    const text = message('SIP/2.0 200 OK', [...common('INVITE'), 'Contact: <sip:bob\0@127.0.0.1>']);
    expect(() => frameDatagram(text)).toThrow(SipFramingError);
  });

  it('an unparseable Record-Route comes out as an empty URI, not a throw', () => {
    const parsed = parseSipFrame(
      frameDatagram(message('SIP/2.0 200 OK', [...common('INVITE'), 'Record-Route: <not a uri>'])),
    ) as IncomingResponse;
    expect(parsed.headers.recordRoute).toEqual([{ name: undefined, uri: '', params: {} }]);
  });
});
