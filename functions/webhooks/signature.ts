/**
 * Webhook signatures, both directions.
 *
 * Ours (status callbacks we send, generic triggers we receive): header
 * `X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<raw body>")>`. The timestamp is inside the
 * MAC so a captured request cannot be replayed later than the tolerance; docs/webhooks.md shows how to verify.
 *
 * Twilio's (requests Twilio sends us): `X-Twilio-Signature` = base64 HMAC-SHA1(auth token, full URL + every POST
 * parameter name and value, sorted by name), https://www.twilio.com/docs/usage/security#validating-requests.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Gateway-Signature';
export const TWILIO_SIGNATURE_HEADER = 'X-Twilio-Signature';
/** How far a signed timestamp may be from our clock; wider than clock skew, narrow enough to bound replays. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function signBody(key: string, body: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${hmacSha256Hex(key, `${timestampSeconds}.${body}`)}`;
}

/** Checks an `X-Gateway-Signature` value against the raw body; false on any malformed, stale or wrong value. */
export function verifyBodySignature(
  key: string,
  header: string | undefined,
  body: string,
  nowSeconds: number,
): boolean {
  if (!header) return false;
  const parts = new Map(header.split(',').map((part) => part.trim().split('=', 2) as [string, string | undefined]));
  const t = parts.get('t');
  const v1 = parts.get('v1');
  if (!t || !/^\d{1,12}$/.test(t) || !v1 || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(nowSeconds - Number(t)) > SIGNATURE_TOLERANCE_SECONDS) return false;
  return safeEqual(v1, hmacSha256Hex(key, `${t}.${body}`));
}

/** Twilio's signature of a form-encoded POST; repeated parameter names contribute each value, in order of value. */
export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  const pairs = [...params].sort(([ak, av], [bk, bv]) => (ak === bk ? compare(av, bv) : compare(ak, bk)));
  const data = url + pairs.map(([name, value]) => name + value).join('');
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

export function verifyTwilioSignature(
  authToken: string,
  header: string | undefined,
  url: string,
  params: URLSearchParams,
): boolean {
  return header !== undefined && safeEqual(header, twilioSignature(authToken, url, params));
}

function hmacSha256Hex(key: string, data: string): string {
  return createHmac('sha256', key).update(data, 'utf8').digest('hex');
}

/** Code-unit order, as Twilio's own libraries sort (not locale order). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
