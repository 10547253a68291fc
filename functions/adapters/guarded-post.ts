/**
 * The HTTP client of status callbacks: a POST over node:http(s) that connects only to addresses that are not
 * link-local or cloud metadata (isBlockedAddress). The API checked the callback's name when the call was
 * POSTed, but deliveries come later, and a name whose answer changes meanwhile (DNS rebinding) would reach the
 * metadata service through global fetch, which resolves again. Here the check is made on the very answer the
 * socket connects to. IP literals are never looked up: the schema refused the blocked ones as written.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isBlockedAddress } from '../../shared/call-spec-schema.ts';

type Lookup = (
  hostname: string,
  options: LookupOptions,
  callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

export interface GuardedPost {
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

/** Resolves to the response's status (a redirect is a status like any other: never followed). */
export type PostJson = (url: string, post: GuardedPost) => Promise<number>;

/** `lookup`: the resolver, node:dns's by default (getaddrinfo). */
export function guardedPost(lookup: Lookup = dnsLookup as Lookup): PostJson {
  const guardedLookup = ((hostname: string, options: LookupOptions, callback: Parameters<Lookup>[2]) => {
    lookup(hostname, options, (error, address, family) => {
      if (error) return callback(error, address, family);
      const answers = Array.isArray(address) ? address.map((entry) => entry.address) : [address];
      const blocked = answers.find(isBlockedAddress);
      if (blocked === undefined) return callback(null, address, family);
      const refusal: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to ${blocked}, a link-local or cloud metadata address`,
      );
      refusal.code = 'EBLOCKEDADDRESS';
      callback(refusal, address, family);
    });
  }) as LookupFunction;
  return (url, { headers, body, signal }) =>
    new Promise((resolve, reject) => {
      const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          lookup: guardedLookup,
          signal,
        },
        (response: IncomingMessage) => {
          // The status is all a delivery needs; the body is drained so the socket can close.
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.once('error', reject);
      request.end(body);
    });
}
