/**
 * Validation of call requests. The input is Web Call Server's `/RESTCall/call` body (booleans and ports may arrive
 * as strings, as WCS's own samples send them) plus our optional fields; the output is the normalized `CallSpec`.
 *
 * Every string ends up in a SIP header, an SDP line or ffmpeg's argument list, so each field is checked against the
 * grammar of where it lands: RFC 3261 section 25.1 `user` for URI user parts, hostnames/IP literals for the domain,
 * and no CR/LF anywhere (a CR/LF in a header value would let a caller inject SIP headers, RFC 3261 section 7.3.1).
 * RTMP targets and the SIP domain may not be link-local or cloud metadata addresses: the task runs with the
 * platform's network identity, and an attacker-chosen destination there would be an SSRF.
 *
 * The schemas use zod's functional build (`zod/mini`): every media task loads this file to re-check its spec,
 * and the method-chaining build adds ~17 ms of CPU and ~2 MB to its start. This build carries no
 * messages of its own, so every schema here names its error.
 */
import * as z from 'zod/mini';
import type { CallSpec } from './call-types.ts';
import { ValidationError } from './call-errors.ts';

const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f\u2028\u2029]/;
const NO_SPACE_OR_CONTROL = 'must not contain whitespace or control characters';
const noSpaceOrControl = z.refine<string>((value) => !CONTROL_OR_SPACE.test(value), NO_SPACE_OR_CONTROL);
/** RFC 3261 `user`: unreserved / escaped / user-unreserved, i.e. no `@ : < > " \ [ ] { } | ^ ` or whitespace. */
const SIP_USER = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/;
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const BLOCKED_MESSAGE = 'must not target link-local or cloud metadata addresses';

export const DEFAULT_MAX_DURATION_SECONDS = 14_400;
export const DEFAULT_RTP_TIMEOUT_SECONDS = 30;

/** `"true"`/`"false"` as WCS clients send them, or JSON booleans. */
const flexibleBoolean = z.pipe(
  z.union([z.boolean(), z.enum(['true', 'false'])], { error: 'must be true or false' }),
  z.transform((value: boolean | 'true' | 'false') => value === true || value === 'true'),
);

/** A whole number in range, as a JSON number or a decimal string ("5060"). */
const flexibleInt = (min: number, max: number) =>
  z.pipe(
    z.pipe(
      z.union([z.number(), z.string().check(z.regex(/^\d{1,10}$/, 'must be a whole number'))], {
        error: 'must be a number',
      }),
      z.transform(Number),
    ),
    z.int('must be a whole number').check(z.gte(min, `must be ≥ ${min}`), z.lte(max, `must be ≤ ${max}`)),
  );

const sipUser = (max = 128) =>
  z
    .string({ error: 'must be a string' })
    .check(
      z.minLength(1, 'must not be empty'),
      z.maxLength(max, `must be at most ${max} characters`),
      z.regex(SIP_USER, 'may only contain characters allowed in a SIP URI user part (no spaces, CR/LF, <>"@: etc.)'),
    );

/** A DNS hostname or an IPv4/IPv6 literal (brackets optional for IPv6). */
export function isHostOrIp(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  if (IPV4.test(host)) return true;
  if (host.includes(':')) return parseIpv6(host.replace(/^\[(.*)\]$/, '$1')) !== undefined;
  const labels = host.replace(/\.$/, '').split('.');
  // An all-numeric last label would make resolvers treat the name as an (odd) IPv4 form.
  return labels.every((label) => HOST_LABEL.test(label)) && !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

const sipDomain = z.string({ error: 'must be a string' }).check(
  z.refine(isHostOrIp, 'must be a hostname or an IPv4/IPv6 address (at most 253 characters)'),
  z.refine((value: string) => !isBlockedDomain(value), BLOCKED_MESSAGE),
);

const sipPassword = z.string({ error: 'must be a string' }).check(
  z.maxLength(128, 'must be at most 128 characters'),
  z.refine((value: string) => !/[\r\n\u0000]/.test(value), 'must not contain CR, LF or NUL'),
);

const callId = z
  .string({ error: 'must be a string' })
  .check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 characters of A–Z a–z 0–9 _ -'));

export const dtmfSchema = z
  .string({ error: 'must be a string' })
  .check(z.regex(/^[0-9*#A-Da-d,w]{1,64}$/, 'must be 1–64 of 0–9 * # A–D , w'));

const rtmpStream = z.string({ error: 'must be a string' }).check(
  z.minLength(1, 'must not be empty'),
  z.maxLength(256, 'must be at most 256 characters'),
  noSpaceOrControl,
  // The stream name ends up in ffmpeg's argument list; a leading dash would read as an option.
  z.refine((value: string) => !value.startsWith('-'), 'must not start with "-"'),
);

const rtmpUrl = z.string({ error: 'must be a string' }).check(
  z.maxLength(1024, 'must be at most 1024 characters'),
  z.superRefine((value: string, ctx) => {
    const problem = rtmpUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
);

/** Up to 5 publishing points per call, the seed's rtmpUrl/rtmpStream included. */
export const MAX_EXTRA_DESTINATIONS = 4;

const destinations = z
  .array(z.strictObject({ url: rtmpUrl, stream: rtmpStream }, { error: 'must be an object {url, stream}' }), {
    error: 'must be an array of {url, stream}',
  })
  .check(
    z.maxLength(
      MAX_EXTRA_DESTINATIONS,
      `must hold at most ${MAX_EXTRA_DESTINATIONS} entries (rtmpUrl/rtmpStream is the first destination)`,
    ),
  );

/** Drawn on the slate through a text file (never through the filter graph), so only control characters are refused. */
const title = z.string({ error: 'must be a string' }).check(
  z.maxLength(100, 'must be at most 100 characters'),
  z.refine(
    (value: string) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value),
    'must not contain control characters',
  ),
);

// A default given as an input (prefault) goes through the conversion like one, and the OpenAPI document shows it.
const connectionSchema = z.strictObject(
  {
    sipLogin: sipUser(),
    sipPassword: z._default(sipPassword, ''),
    sipAuthenticationName: z.optional(sipUser()),
    sipDomain,
    sipPort: z.prefault(flexibleInt(1, 65_535), 5060),
    sipRegisterRequired: z.prefault(flexibleBoolean, false),
    appKey: z.optional(
      z
        .string({ error: 'must be a string' })
        .check(z.maxLength(128, 'must be at most 128 characters'), noSpaceOrControl),
    ),
    transport: z._default(z.enum(['udp', 'tcp', 'tls'], { error: 'must be udp, tcp or tls' }), 'udp'),
  },
  { error: 'must be an object' },
);

const callFields = {
  callee: sipUser(),
  rtmpUrl,
  rtmpStream,
  hasAudio: z.prefault(flexibleBoolean, true),
  hasVideo: z.prefault(flexibleBoolean, true),
  dtmf: z.optional(dtmfSchema),
  maxDurationSeconds: z.prefault(flexibleInt(1, 86_400), DEFAULT_MAX_DURATION_SECONDS),
  rtpTimeoutSeconds: z.prefault(flexibleInt(1, 3_600), DEFAULT_RTP_TIMEOUT_SECONDS),
  connection: connectionSchema,
  video: z.optional(z.enum(['slate', 'waveform', 'none'], { error: 'must be slate, waveform or none' })),
  title: z.optional(title),
  destinations: z.optional(destinations),
  record: z.optional(flexibleBoolean),
};

/** Made by the control plane (crypto.randomUUID): the recording's file name and S3 key are built from it alone. */
const recordingId = z
  .string({ error: 'must be a string' })
  .check(z.regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a lower-case UUID'));

/** The same URL + stream twice would make two publishers fight over one stream name. */
function noDuplicateTargets(
  value: { rtmpUrl: string; rtmpStream: string; destinations?: Array<{ url: string; stream: string }> | undefined },
  ctx: z.core.$RefinementCtx,
): void {
  const seen = new Set([`${value.rtmpUrl.replace(/\/+$/, '')}/${value.rtmpStream.replace(/^\/+/, '')}`]);
  value.destinations?.forEach((destination, index) => {
    const key = `${destination.url.replace(/\/+$/, '')}/${destination.stream.replace(/^\/+/, '')}`;
    if (seen.has(key))
      ctx.addIssue({ code: 'custom', path: ['destinations', index], message: 'repeats another destination' });
    seen.add(key);
  });
}

/** The WCS `/RESTCall/call` and `/rest-api/call/startup` body: callId required, as WCS requires it. */
export const wcsCallRequestSchema = z.strictObject({ callId, ...callFields }).check(z.superRefine(noDuplicateTargets));
/** `POST /v1/calls`: callId optional (generated when absent), and an idempotency key when given. */
export const callRequestSchema = z
  .strictObject({ callId: z.optional(callId), ...callFields })
  .check(z.superRefine(noDuplicateTargets));
/**
 * What a media task runs: the WCS body's fields (a normalized spec has no others) plus the recording's id, which
 * only the control plane writes, so no request schema has it.
 */
const taskSpecSchema = z.strictObject({ callId, ...callFields, recordingId: z.optional(recordingId) }).check(
  z.superRefine(noDuplicateTargets),
  z.superRefine((value, ctx) => {
    if (value.record === true && value.recordingId === undefined)
      ctx.addIssue({ code: 'custom', path: ['recordingId'], message: 'is required with record' });
  }),
);

export type CallRequest = z.input<typeof callRequestSchema>;
type ParsedCallRequest = z.output<typeof callRequestSchema> & { recordingId?: string };

/** `{callId, dtmf, type}`; WCS's own article spells the digits field `dumf`, so that is accepted too. */
export const wcsDtmfRequestSchema = z
  .strictObject({
    callId,
    dtmf: z.optional(dtmfSchema),
    dumf: z.optional(dtmfSchema),
    type: z.optional(z.enum(['RFC2833', 'INFO', 'rfc2833', 'info'], { error: 'must be RFC2833 or INFO' })),
  })
  .check(
    z.superRefine((value, ctx) => {
      if (value.dtmf === undefined && value.dumf === undefined)
        ctx.addIssue({ code: 'custom', path: ['dtmf'], message: 'is required' });
    }),
  );

export const dtmfRequestSchema = z.strictObject({
  dtmf: dtmfSchema,
  method: z.optional(z.enum(['rfc4733', 'info'], { error: 'must be rfc4733 or info' })),
});

export const callIdRequestSchema = z.strictObject({ callId });
export const callIdSchema = callId;

/** Normalizes a parsed request into the spec one media task runs. */
export function toCallSpec(parsed: ParsedCallRequest, generatedCallId: () => string): CallSpec {
  const { connection, callId: requestedId, dtmf, video, title, destinations, record, recordingId, ...rest } = parsed;
  const { sipAuthenticationName, appKey, ...conn } = connection;
  return {
    callId: requestedId ?? generatedCallId(),
    ...rest,
    ...(dtmf === undefined ? {} : { dtmf }),
    ...(video === undefined ? {} : { video }),
    ...(title === undefined ? {} : { title }),
    ...(destinations === undefined || destinations.length === 0 ? {} : { destinations }),
    ...(record ? { record } : {}),
    ...(recordingId === undefined ? {} : { recordingId }),
    connection: {
      ...conn,
      sipAuthenticationName: sipAuthenticationName ?? conn.sipLogin,
      ...(appKey === undefined ? {} : { appKey }),
    },
  };
}

/** Validates `body` with `schema`, throwing a `ValidationError` that names the first offending field. */
export function parseOrThrow<S extends z.core.$ZodType>(schema: S, body: unknown): z.output<S> {
  const result = z.safeParse(schema, body);
  if (result.success) return result.data;
  throw toValidationError(result.error, body);
}

export function toValidationError(error: z.core.$ZodError, body?: unknown): ValidationError {
  const issue = error.issues[0];
  if (!issue) return new ValidationError('invalid request');
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, String(issue.keys[0])].join('.');
    return new ValidationError(`unknown field ${field}`, field);
  }
  const field = path.join('.');
  // zod 4 leaves the input out of issues (so passwords stay out of them); look the value up to tell "missing".
  if (issue.code === 'invalid_type' && valueAt(body, issue.path) === undefined)
    return new ValidationError(`${field || 'body'} is required`, field || undefined);
  if (!field && issue.code === 'invalid_type') return new ValidationError('request body must be a JSON object');
  return new ValidationError(field ? `${field} ${issue.message}` : issue.message, field || undefined);
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let value = body;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A URL's scheme and authority (host, port, user@), split where ffmpeg splits them: at the first `/`, `?` or `#`. */
const URL_AUTHORITY = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i;

/** Why `value` is not an acceptable RTMP target, or undefined. */
export function rtmpUrlProblem(value: string): string | undefined {
  // WHATWG URL parsing silently drops tabs and newlines, so check the raw string first.
  if (CONTROL_OR_SPACE.test(value)) return NO_SPACE_OR_CONTROL;
  const match = URL_AUTHORITY.exec(value);
  if (!match || !/^rtmps?$/i.test(match[1] ?? '')) return 'must be an rtmp:// or rtmps:// URL';
  const authority = match[2] ?? '';
  if (authority.includes('@')) return 'must not contain credentials (user@)';
  // ffmpeg hands the host to the resolver as written, where the URL parser would decode %xx, read `\` as `/`
  // and turn Unicode into punycode: the name checked here must be the name ffmpeg looks up.
  if (!/^[A-Za-z0-9.:[\]-]*$/.test(authority))
    return 'must have a host of ASCII letters, digits, dots and hyphens (an IDN in its xn-- form)';
  const host = resolverHost(authority);
  if (!host || !isHostOrIp(host)) return 'has an invalid host';
  if (isBlockedHost(host)) return BLOCKED_MESSAGE;
  return undefined;
}

/** `authority`'s host as the blocklist expects it (lower case, no trailing dot, IPv6 in brackets), or undefined. */
function resolverHost(authority: string): string | undefined {
  try {
    // Parsed as http so that numeric host forms (2852039166, 0xa9fea9fe, 0251.0376...) are normalized to dotted
    // IPv4 the way a resolver would read them, before the blocklist is checked.
    return new URL(`http://${authority}`).hostname.toLowerCase().replace(/\.$/, '');
  } catch {
    return undefined;
  }
}

/** A SIP domain (IPv6 with or without brackets) that names a link-local or cloud metadata address. */
function isBlockedDomain(domain: string): boolean {
  // zod runs every refinement: a domain that is no host at all has its own error already, and only that one.
  if (!isHostOrIp(domain)) return false;
  const bare = domain.replace(/^\[(.*)\]$/, '$1');
  const host = resolverHost(bare.includes(':') ? `[${bare}]` : bare);
  // A host the URL parser refuses is one it reads differently from us: refuse it too.
  return host === undefined || isBlockedHost(host);
}

const BLOCKED_NAMES = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

function isBlockedHost(host: string): boolean {
  if (BLOCKED_NAMES.has(host)) return true;
  if (IPV4.test(host)) return isBlockedIpv4(host);
  const groups = host.startsWith('[') ? parseIpv6(host.slice(1, -1)) : undefined;
  if (!groups) return false;
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  if ((g0 & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254)
    return true;
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms reach the embedded IPv4 address.
  const embedded = (high: number, low: number) =>
    isBlockedIpv4(`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`);
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && (g5 === 0xffff || g5 === 0)) return embedded(g6, g7);
  // NAT64 (RFC 6052): a DNS64 resolver, Route 53's among them, answers 64:ff9b::a.b.c.d for an IPv4-only name,
  // and the NAT64 gateway connects to a.b.c.d. The /48 local-use prefix (RFC 8215) skips the octet at bits 64-71.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return embedded(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return embedded(g3, ((g4 & 0xff) << 8) | (g5 >> 8));
  return false;
}

/** An address as a resolver answers it (dotted IPv4, or IPv6 without brackets) that is link-local or metadata. */
export function isBlockedAddress(address: string): boolean {
  return IPV4.test(address) ? isBlockedIpv4(address) : isBlockedHost(`[${address.replace(/%.*$/, '').toLowerCase()}]`);
}

/** A host name a resolver would be asked about, or undefined for an IP literal (checked as written already). */
export function hostName(urlOrHost: string): string | undefined {
  const authority = URL_AUTHORITY.exec(urlOrHost)?.[2] ?? urlOrHost;
  const host = resolverHost(authority);
  return host && !host.startsWith('[') && !IPV4.test(host) ? host : undefined;
}

function isBlockedIpv4(address: string): boolean {
  const [a, b] = address.split('.').map(Number);
  return (a === 169 && b === 254) || address === '100.100.100.200';
}

/** Eight 16-bit groups, or undefined when `text` is not an IPv6 address. */
function parseIpv6(text: string): number[] | undefined {
  let url: URL;
  try {
    url = new URL(`http://[${text}]/`);
  } catch {
    return undefined;
  }
  const canonical = url.hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const part = (s: string) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  const zeros = new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/**
 * Validates a spec handed to a media task (normalized `CallSpec` JSON, or a WCS body). The task re-checks what
 * the API checked: its environment is an input too, and it is the process that writes SIP and spawns ffmpeg.
 * @throws ValidationError naming the field.
 */
export function parseCallSpec(raw: unknown): CallSpec {
  return toCallSpec(parseOrThrow(taskSpecSchema, raw), () => {
    throw new ValidationError('callId is required', 'callId');
  });
}
