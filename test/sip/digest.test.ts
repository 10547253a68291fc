import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildAuthorization,
  chooseChallenge,
  digestResponse,
  DigestError,
  parseChallenge,
} from '../../media-task/sip/digest.ts';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

// RFC 7616 section 3.9.1: the same request answered with MD5 and with SHA-256.
const RFC7616 = {
  username: 'Mufasa',
  password: 'Circle of Life',
  method: 'GET',
  uri: '/dir/index.html',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: 1,
};
const RFC7616_CHALLENGE = (algorithm: string) =>
  `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
  `nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;

describe('digest', () => {
  it.each([
    ['RFC 7616 3.9.1 MD5', RFC7616_CHALLENGE('MD5'), RFC7616, '8ca523f5e9506fed4657c9700eebdbec'],
    [
      'RFC 7616 3.9.1 SHA-256',
      RFC7616_CHALLENGE('SHA-256'),
      RFC7616,
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    ],
    [
      'RFC 2617 3.5 MD5 without algorithm parameter',
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
      {
        username: 'Mufasa',
        password: 'Circle Of Life',
        method: 'GET',
        uri: '/dir/index.html',
        cnonce: '0a4f113b',
        nc: 1,
      },
      '6629fae49393a05397450978507c4ef1',
    ],
    [
      'no qop (RFC 2069 style, common with SIP registrars)',
      'Digest realm="asterisk", nonce="4f2b1a"',
      { username: 'alice', password: 'secret', method: 'INVITE', uri: 'sip:bob@example.com', cnonce: 'x', nc: 1 },
      md5(`${md5('alice:asterisk:secret')}:4f2b1a:${md5('INVITE:sip:bob@example.com')}`),
    ],
    [
      'MD5-sess',
      'Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess',
      { username: 'u', password: 'p', method: 'REGISTER', uri: 'sip:example.com', cnonce: 'c', nc: 2 },
      md5(`${md5(`${md5('u:r:p')}:n:c`)}:n:00000002:c:auth:${md5('REGISTER:sip:example.com')}`),
    ],
    [
      'qop auth-int only hashes the body',
      'Digest realm="r", nonce="n", qop="auth-int"',
      { username: 'u', password: 'p', method: 'INVITE', uri: 'sip:b@h', cnonce: 'c', nc: 1, body: 'v=0\r\n' },
      md5(`${md5('u:r:p')}:n:00000001:c:auth-int:${md5(`INVITE:sip:b@h:${md5('v=0\r\n')}`)}`),
    ],
  ])('%s', (_name, header, input, expected) => {
    const challenge = parseChallenge(header);
    expect(challenge).toBeDefined();
    expect(digestResponse(challenge!, input).response).toBe(expected);
  });

  it('parses quoted values, opaque, stale and the qop list', () => {
    expect(
      parseChallenge('Digest realm="a, b", nonce="n\\"1", opaque="o", stale=TRUE, qop="auth,auth-int,other"'),
    ).toEqual({
      realm: 'a, b',
      nonce: 'n"1',
      opaque: 'o',
      algorithm: 'MD5',
      qop: ['auth', 'auth-int'],
      stale: true,
    });
  });

  it.each([['Basic realm="x"'], ['Digest nonce="n"'], ['Digest realm="r", nonce="n", algorithm=SHA-512-256'], ['']])(
    'refuses %j',
    (header) => {
      expect(parseChallenge(header)).toBeUndefined();
    },
  );

  it('prefers SHA-256 when offered next to MD5 (RFC 7616 section 3.7)', () => {
    expect(chooseChallenge([RFC7616_CHALLENGE('MD5'), RFC7616_CHALLENGE('SHA-256')])?.algorithm).toBe('SHA-256');
    expect(chooseChallenge(['Basic realm="x"'])).toBeUndefined();
  });

  it('builds the Authorization value with opaque, qop, nc and cnonce', () => {
    const value = buildAuthorization(parseChallenge(RFC7616_CHALLENGE('MD5'))!, RFC7616);
    expect(value).toBe(
      'Digest username="Mufasa", realm="http-auth@example.org", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", ' +
        'uri="/dir/index.html", response="8ca523f5e9506fed4657c9700eebdbec", algorithm=MD5, ' +
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", qop=auth, nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"',
    );
    expect(value).not.toContain('Circle of Life');
  });

  it('refuses a username that could break out of its quoted-string', () => {
    const challenge = parseChallenge('Digest realm="r", nonce="n"')!;
    expect(() => buildAuthorization(challenge, { ...RFC7616, username: 'a"\r\nX: y' })).toThrow(DigestError);
  });
});
