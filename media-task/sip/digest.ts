/**
 * HTTP Digest authentication as SIP uses it (RFC 3261 section 22.4, RFC 2617, RFC 7616, RFC 8760): parses a
 * WWW-Authenticate/Proxy-Authenticate value and computes the matching Authorization value. Pure apart from the
 * hash function; the caller supplies cnonce and nc so the results are reproducible.
 */
import { createHash } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: DigestAlgorithm;
  /** Offered qop values, e.g. ['auth', 'auth-int']; empty = RFC 2069 style, no qop. */
  qop: string[];
  stale: boolean;
}

export interface DigestInput {
  username: string;
  password: string;
  method: string;
  uri: string;
  /** Needed only for qop=auth-int. */
  body?: string;
  cnonce: string;
  /** Request count for this nonce, starting at 1. */
  nc: number;
}

export class DigestError extends Error {
  override name = 'DigestError';
}

const ALGORITHMS: Record<string, DigestAlgorithm> = {
  MD5: 'MD5',
  'MD5-SESS': 'MD5-sess',
  'SHA-256': 'SHA-256',
  'SHA-256-SESS': 'SHA-256-sess',
};

/** Parses one challenge; undefined when it is not a Digest challenge or uses an algorithm we lack (RFC 7616 3.3). */
export function parseChallenge(value: string): DigestChallenge | undefined {
  const match = /^\s*(\S+)\s+([\s\S]*)$/.exec(value);
  if (!match || match[1]!.toLowerCase() !== 'digest') return undefined;
  const params = parseParams(match[2]!);
  const algorithm = ALGORITHMS[(params.get('algorithm') ?? 'MD5').toUpperCase()];
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (!algorithm || realm === undefined || nonce === undefined) return undefined;
  const qop = (params.get('qop') ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item === 'auth' || item === 'auth-int');
  return {
    realm,
    nonce,
    opaque: params.get('opaque'),
    algorithm,
    qop,
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
}

/** Picks the strongest usable challenge when a server offers several (RFC 7616 section 3.7: SHA-256 first). */
export function chooseChallenge(values: readonly string[]): DigestChallenge | undefined {
  const parsed = values.map(parseChallenge).filter((item): item is DigestChallenge => item !== undefined);
  const rank = (challenge: DigestChallenge) => (challenge.algorithm.startsWith('SHA-256') ? 0 : 1);
  return parsed.sort((a, b) => rank(a) - rank(b))[0];
}

/** The `response` value (RFC 7616 section 3.4.1). */
export function digestResponse(challenge: DigestChallenge, input: DigestInput): { response: string; qop?: string } {
  const hash = (text: string) =>
    createHash(challenge.algorithm.startsWith('SHA-256') ? 'sha256' : 'md5')
      .update(text, 'utf8')
      .digest('hex');
  const qop = challenge.qop.includes('auth') ? 'auth' : challenge.qop.includes('auth-int') ? 'auth-int' : undefined;
  const nc = formatNc(input.nc);
  let ha1 = hash(`${input.username}:${challenge.realm}:${input.password}`);
  if (challenge.algorithm.endsWith('-sess')) ha1 = hash(`${ha1}:${challenge.nonce}:${input.cnonce}`);
  const ha2 =
    qop === 'auth-int'
      ? hash(`${input.method}:${input.uri}:${hash(input.body ?? '')}`)
      : hash(`${input.method}:${input.uri}`);
  const response = qop
    ? hash(`${ha1}:${challenge.nonce}:${nc}:${input.cnonce}:${qop}:${ha2}`)
    : hash(`${ha1}:${challenge.nonce}:${ha2}`);
  return { response, qop };
}

/** The full Authorization / Proxy-Authorization header value. */
export function buildAuthorization(challenge: DigestChallenge, input: DigestInput): string {
  for (const [name, value] of Object.entries({ username: input.username, uri: input.uri, cnonce: input.cnonce })) {
    // A quote or line break would let a value escape its quoted-string and forge parameters or headers.
    if (/["\\\r\n]/.test(value)) throw new DigestError(`digest ${name} contains a quote, backslash or line break`);
  }
  const { response, qop } = digestResponse(challenge, input);
  const parts = [
    `username="${input.username}"`,
    `realm="${challenge.realm}"`,
    `nonce="${challenge.nonce}"`,
    `uri="${input.uri}"`,
    `response="${response}"`,
    `algorithm=${challenge.algorithm}`,
  ];
  if (challenge.opaque !== undefined) parts.push(`opaque="${challenge.opaque}"`);
  if (qop) parts.push(`qop=${qop}`, `nc=${formatNc(input.nc)}`, `cnonce="${input.cnonce}"`);
  return `Digest ${parts.join(', ')}`;
}

function formatNc(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  const pattern = /\s*([^\s=,]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
    params.set(match[1]!.toLowerCase(), value);
  }
  return params;
}
