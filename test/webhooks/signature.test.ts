import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  signBody,
  twilioSignature,
  verifyBodySignature,
  verifyTwilioSignature,
} from '../../functions/webhooks/signature.ts';

describe('Twilio request signature', () => {
  // The example from Twilio's signature-validation docs (TwilioDevEd/api-snippets security/signature_validation).
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = new URLSearchParams({
    CallSid: 'CA1234567890ABCDE',
    Caller: '+14158675309',
    Digits: '1234',
    From: '+14158675309',
    To: '+18005551212',
  });

  it('matches the signature Twilio documents for its example request', () => {
    expect(twilioSignature('12345', url, params)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('matches an independent computation: URL, then name+value sorted by name, HMAC-SHA1, base64', () => {
    const shuffled = new URLSearchParams([
      ['b', '2'],
      ['StatusCallbackEvent', 'conference-start'],
      ['a', 'x y&z'],
    ]);
    const data = 'http://h/webhooks/twilio' + 'StatusCallbackEvent' + 'conference-start' + 'a' + 'x y&z' + 'b' + '2';
    expect(twilioSignature('tok', 'http://h/webhooks/twilio', shuffled)).toBe(
      createHmac('sha1', 'tok').update(data).digest('base64'),
    );
  });

  it.each([
    ['another token', '54321', url, params],
    ['another URL', '12345', 'https://mycompany.com/myapp.php?foo=1', params],
    ['a changed parameter', '12345', url, new URLSearchParams({ ...Object.fromEntries(params), Digits: '1235' })],
  ])('refuses %s', (_name, token, otherUrl, otherParams) => {
    expect(verifyTwilioSignature(token, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', otherUrl, otherParams)).toBe(false);
  });

  it('accepts the right header and refuses a missing one', () => {
    expect(verifyTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, params)).toBe(true);
    expect(verifyTwilioSignature('12345', undefined, url, params)).toBe(false);
  });
});

describe('gateway body signature (t=…,v1=HMAC-SHA256)', () => {
  const key = 'k'.repeat(32);
  const body = '{"callId":"a"}';
  const now = 1_800_000_000;

  it('signs "<t>.<body>" with HMAC-SHA256, hex', () => {
    const expected = createHmac('sha256', key).update(`${now}.${body}`).digest('hex');
    expect(signBody(key, body, now)).toBe(`t=${now},v1=${expected}`);
  });

  it('verifies its own signature within the tolerance', () => {
    expect(verifyBodySignature(key, signBody(key, body, now), body, now + 299)).toBe(true);
  });

  it.each([
    ['a changed body', signBody(key, body, now), '{"callId":"b"}', now],
    ['another key', signBody('x'.repeat(32), body, now), body, now],
    ['a stale timestamp (replay)', signBody(key, body, now), body, now + 301],
    ['a timestamp from the future', signBody(key, body, now + 400), body, now],
    ['a moved timestamp', signBody(key, body, now).replace(`t=${now}`, `t=${now + 1}`), body, now],
    ['garbage', 'v1=abc', body, now],
    ['no header', undefined, body, now],
  ])('refuses %s', (_name, header, checkedBody, at) => {
    expect(verifyBodySignature(key, header, checkedBody, at)).toBe(false);
  });
});
