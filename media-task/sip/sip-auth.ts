/**
 * Answers 401/407 challenges (RFC 3261 section 22.2/22.3): once per request, so a second challenge after our
 * credentials reaches the caller as the auth failure it is, instead of a loop.
 */
import { randomBytes } from 'node:crypto';
import { buildAuthorization, chooseChallenge } from './digest.ts';
import type { ClientTransaction, IncomingResponse, OutgoingRequest, SipStack } from './sip-stack.ts';

export interface Credentials {
  username: string;
  password: string;
}

export class ChallengeResponder {
  /** RFC 7616 section 3.4: nc counts the requests sent with one nonce. */
  private readonly nonceCounts = new Map<string, number>();

  constructor(private readonly credentials: Credentials | undefined) {}

  /** The header to add to the re-sent request, or undefined when we cannot answer this challenge. */
  answer(response: IncomingResponse, request: OutgoingRequest): { name: string; value: string } | undefined {
    if (!this.credentials) return undefined;
    const proxy = response.status === 407;
    const challenge = chooseChallenge(proxy ? response.challenges.proxy : response.challenges.www);
    if (!challenge) return undefined;
    const nc = (this.nonceCounts.get(challenge.nonce) ?? 0) + 1;
    this.nonceCounts.set(challenge.nonce, nc);
    const value = buildAuthorization(challenge, {
      username: this.credentials.username,
      password: this.credentials.password,
      method: request.method,
      uri: request.uri,
      body: request.body,
      cnonce: randomBytes(8).toString('hex'),
      nc,
    });
    return { name: proxy ? 'proxy-authorization' : 'authorization', value };
  }
}

export interface AuthenticatedRequest {
  /** The transaction of the latest attempt (the one a CANCEL must target). */
  transaction(): ClientTransaction;
  /** The latest request sent, as sent. */
  request(): OutgoingRequest;
}

/**
 * Sends `build(cseq)`; on a 401/407 that we can answer, sends it again once with a new CSeq (RFC 3261 section
 * 22.2) and the credentials. Every other response, and the challenge we could not or would not answer, reaches
 * `onResponse`.
 */
export function sendAuthenticated(
  stack: SipStack,
  responder: ChallengeResponder,
  nextCseq: () => number,
  build: (cseq: number) => OutgoingRequest,
  onResponse: (response: IncomingResponse, request: OutgoingRequest) => void,
): AuthenticatedRequest {
  let current: OutgoingRequest;
  let transaction: ClientTransaction;
  const attempt = (authorization?: { name: string; value: string }) => {
    const request = build(nextCseq());
    if (authorization) request.headers.extra[authorization.name] = authorization.value;
    current = request;
    let retried = false;
    transaction = stack.request(request, (response) => {
      if (request !== current) return;
      if (!authorization && !retried && !response.local && (response.status === 401 || response.status === 407)) {
        const answer = responder.answer(response, request);
        if (answer) {
          retried = true;
          attempt(answer);
          return;
        }
      }
      onResponse(response, request);
    });
  };
  attempt();
  return { transaction: () => transaction, request: () => current };
}
