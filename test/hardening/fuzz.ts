/**
 * Seeded mutation of SIP messages for the fuzz tests. One seed gives the same messages on every machine:
 * FUZZ_SEED reproduces a failing run (the seed is printed), FUZZ_ITERATIONS makes a run longer.
 * Messages are latin1 strings (one char per byte), as the SIP transports read them.
 */

/** mulberry32: small, fast and good enough to pick mutations; not for anything secret. */
export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }
}

/** The seed and iteration count of this run, from FUZZ_SEED / FUZZ_ITERATIONS or the defaults; printed once. */
export function fuzzSettings(name: string, defaultIterations: number): { seed: number; iterations: number } {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  const iterations = process.env.FUZZ_ITERATIONS ? Number(process.env.FUZZ_ITERATIONS) : defaultIterations;
  console.log(`${name}: FUZZ_SEED=${seed} FUZZ_ITERATIONS=${iterations}`);
  return { seed, iterations };
}

const CRLF = '\r\n';

/** Splits a message into start line, header lines and body. */
function split(message: string): { lines: string[]; body: string } {
  const end = message.indexOf(CRLF + CRLF);
  if (end < 0) return { lines: message.split(CRLF), body: '' };
  return { lines: message.slice(0, end).split(CRLF), body: message.slice(end + 4) };
}

function join(lines: string[], body: string): string {
  return lines.join(CRLF) + CRLF + CRLF + body;
}

const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

const isHeader = (line: string, names: string[]) => names.includes(line.split(':')[0]!.trim().toLowerCase());

type Mutation = (message: string, random: Prng) => string;

/** Each mutation is one kind of damage a hostile or broken peer can do; names show up in failure messages. */
export const MUTATIONS: Record<string, Mutation> = {
  truncate: (message, random) => message.slice(0, random.int(message.length + 1)),
  duplicateHeader: (message, random) => {
    const { lines, body } = split(message);
    const index = 1 + random.int(Math.max(1, lines.length - 1));
    const copies = random.pick([1, 2, 50]);
    lines.splice(index, 0, ...Array<string>(copies).fill(lines[index] ?? 'X: y'));
    return join(lines, body);
  },
  removeHeader: (message, random) => {
    const { lines, body } = split(message);
    if (lines.length > 1) lines.splice(1 + random.int(lines.length - 1), 1);
    return join(lines, body);
  },
  removeMandatory: (message, random) => {
    const { lines, body } = split(message);
    const name = random.pick(['via', 'call-id', 'to', 'from', 'cseq', 'content-length', 'contact']);
    return join(
      lines.filter((line, index) => index === 0 || !isHeader(line, [name])),
      body,
    );
  },
  randomBytes: (message, random) => {
    const chars = [...message];
    for (let count = 1 + random.int(8); count > 0; count--)
      chars[random.int(chars.length + 1)] = String.fromCharCode(random.int(256));
    return chars.join('');
  },
  contentLength: (message, random) => {
    const { lines, body } = split(message);
    const value = random.pick([
      '99999999999999',
      '-5',
      '4294967296',
      'abc',
      '',
      '0x10',
      '1e3',
      String(body.length + 1),
      '0',
      ' 12 34',
    ]);
    return join(
      [...lines.filter((line) => !isHeader(line, ['content-length', 'l'])), `Content-Length: ${value}`],
      body,
    );
  },
  cseq: (message, random) => {
    const { lines, body } = split(message);
    const method = /^CSeq:\s*\d+\s+(\S+)/im.exec(message)?.[1] ?? 'INVITE';
    const value = random.pick([
      '-1',
      '0',
      '2147483648',
      '99999999999999999999',
      'abc',
      `1`,
      `NaN ${method}`,
      `4294967295 ${method}`,
      `-7 ${method}`,
      `1 ${method} extra`,
    ]);
    return join(
      lines.map((line) => (isHeader(line, ['cseq']) ? `CSeq: ${value}${/\D$/.test(value) ? '' : ` ${method}`}` : line)),
      body,
    );
  },
  statusLine: (message, random) => {
    const { lines, body } = split(message);
    lines[0] = random.pick([
      'SIP/2.0 99999 Huge',
      'SIP/2.0 abc OK',
      'SIP/3.0 200 OK',
      'SIP/2.0 0 Zero',
      'SIP/2.0 999 Nine',
      'SIP/2.0 200',
      '',
      'SIP/2.0  200  OK  ',
      'HTTP/1.1 200 OK',
      'SIP/2.0 -200 OK',
      'INVITE',
      'BYE sip: SIP/2.0',
      'SIP/2.0 183 \u0000',
    ]);
    return join(lines, body);
  },
  crlfInjection: (message, random) => {
    const at = random.int(message.length + 1);
    return (
      message.slice(0, at) +
      random.pick(['\r\n', '\n', '\r', '\r\n\r\n', '\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKevil\r\n', '\r\n ']) +
      message.slice(at)
    );
  },
  unicode: (message, random) => {
    const at = random.int(message.length + 1);
    return (
      message.slice(0, at) +
      utf8(random.pick(['é', '日本語', '\u202e', '\ufeff', '😀', '\ud800', 'Ω'.repeat(100)])) +
      message.slice(at)
    );
  },
  longLine: (message, random) => {
    const { lines, body } = split(message);
    const length = random.pick([5000, 20_000, 70_000]);
    const index = random.int(lines.length);
    lines[index] =
      (lines[index] ?? '') + random.pick(['a', ' ', ';x', ',', 'SIP/2.0/', '<sip:', '"', '\\']).repeat(length / 2);
    return join(lines, body);
  },
  whitespaceFlood: (message, random) =>
    random.pick([' ', '\r\n', '\t']).repeat(random.pick([100, 10_000, 60_000])) + message,
  folding: (message, random) => {
    const { lines, body } = split(message);
    const index = 1 + random.int(Math.max(1, lines.length - 1));
    if (lines[index]) lines[index] = lines[index]!.replace(/:\s*/, ':\r\n ').replace(/;/g, '\r\n\t;');
    return join(lines, body);
  },
  hostileParams: (message, random) => {
    const { lines, body } = split(message);
    const index = 1 + random.int(Math.max(1, lines.length - 1));
    const extra = random.pick([
      ';tag=',
      ';__proto__=x',
      ';hasOwnProperty=1',
      ';branch',
      ';rport=abc',
      ';tag="a b"',
      ';;;',
      ';constructor',
      ';received=::1',
    ]);
    if (lines[index]) lines[index] += extra;
    if (random.chance(0.3))
      lines.splice(1, 0, random.pick(['__proto__: x', 'constructor: y', 'toString: z', ': empty name', 'NoColon']));
    return join(lines, body);
  },
  uriGarbage: (message, random) => {
    const uri = random.pick([
      'sip:',
      '<>',
      'sip:@',
      'sip:a@b:99999999',
      'sips:x@[::1]:5060',
      'tel:+1',
      'sip:a b@c',
      'sip:%00@h',
      'sip:a@' + 'h'.repeat(3000),
      '<sip:x@127.0.0.1;lr',
    ]);
    return message.replace(random.pick([/<sip:[^>]*>/, /sip:\S+/, /Contact:[^\r]*/i]), (match) =>
      match.startsWith('Contact') ? `Contact: ${uri}` : uri,
    );
  },
};

const MUTATION_NAMES = Object.keys(MUTATIONS);

/** One to three mutations of `message`; returns the result and what was done, to name it in a failure. */
export function mutate(message: string, random: Prng): { text: string; applied: string[] } {
  let text = message;
  const applied: string[] = [];
  for (let count = 1 + random.int(3); count > 0; count--) {
    const name = random.pick(MUTATION_NAMES);
    text = MUTATIONS[name]!(text, random);
    applied.push(name);
  }
  return { text, applied };
}

const SDP_HEAD = ['v=0', 'o=peer 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0'];
const binary = new Prng(1);

/** SDP answers a broken or hostile peer sends (each fits one UDP datagram); none may crash or yield a bad stream. */
export const GARBAGE_SDP: ReadonlyArray<readonly [name: string, sdp: string]> = (
  [
    ['no m-line', SDP_HEAD],
    ['port 0 everywhere', [...SDP_HEAD, 'm=audio 0 RTP/AVP 0', 'm=video 0 RTP/AVP 96']],
    ['unknown codecs', [...SDP_HEAD, 'm=audio 6000 RTP/AVP 98 99', 'a=rtpmap:98 SPEEX/16000', 'a=rtpmap:99 X-NOPE/1']],
    ['bad c= address', [...SDP_HEAD.slice(0, 3), 'c=IN IP4 999.300.1.1', 't=0 0', 'm=audio 6000 RTP/AVP 0']],
    ['hostname in c=', [...SDP_HEAD.slice(0, 3), 'c=IN IP4 pbx.invalid', 't=0 0', 'm=audio 6000 RTP/AVP 0']],
    ['IPv6', [...SDP_HEAD.slice(0, 3), 'c=IN IP6 ::1', 't=0 0', 'm=audio 6000 RTP/AVP 0']],
    ['no c= at all', ['v=0', 's=-', 't=0 0', 'm=audio 6000 RTP/AVP 0']],
    ['malformed m-line', [...SDP_HEAD, 'm=audio', 'm=audio x RTP/AVP 0']],
    ['port out of range', [...SDP_HEAD, 'm=audio 70000 RTP/AVP 0', 'm=video -1 RTP/AVP 96']],
    [
      'huge SDP',
      [
        ...SDP_HEAD,
        ...Array.from({ length: 1000 }, (_, index) => `a=x-filler:${index} ${'y'.repeat(20)}`),
        'm=audio 6000 RTP/AVP 0',
      ],
    ],
    ['thousands of m-lines', [...SDP_HEAD, ...Array.from({ length: 2000 }, () => 'm=audio 6000 RTP/AVP 0')]],
    ['binary', [String.fromCharCode(...Array.from({ length: 300 }, () => binary.int(256)))]],
    [
      'rtpmap garbage',
      [
        ...SDP_HEAD,
        'm=audio 6000 RTP/AVP 96',
        'a=rtpmap:96 PCMU/0',
        'a=rtpmap:96 PCMU/abc/-1',
        'a=fmtp:96 ' + 'x'.repeat(5000),
      ],
    ],
  ] as const
).map(([name, lines]) => [name, lines.join(CRLF) + CRLF] as const);

export function garbageSdp(random: Prng): { name: string; sdp: string } {
  const [name, sdp] = random.pick(GARBAGE_SDP);
  return { name, sdp };
}
