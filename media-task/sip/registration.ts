/**
 * REGISTER binding for our Contact (RFC 3261 section 10), refreshed before it expires and removed with
 * Expires: 0 at the end of the call.
 */
import type { Logger } from '../../shared/log.ts';
import { ChallengeResponder, sendAuthenticated } from './sip-auth.ts';
import {
  randomToken,
  type IncomingResponse,
  type OutgoingRequest,
  type SipAddress,
  type SipStack,
} from './sip-stack.ts';

export type RegisterOutcome =
  { ok: true; expires: number } | { ok: false; reason: 'sip' | 'auth' | 'timeout'; sipCode?: number; message: string };

export interface RegistrationOptions {
  /** sip:domain[:port][;transport=...] */
  registrarUri: string;
  /** Address of record, sip:user@domain. */
  aor: string;
  contact: SipAddress;
  expiresSeconds?: number;
  logger: Logger;
}

export class Registration {
  private readonly callId = `${randomToken()}@reg`;
  private readonly tag = randomToken();
  private cseq = 0;
  private refreshTimer: NodeJS.Timeout | undefined;
  private registered = false;

  constructor(
    private readonly stack: SipStack,
    private readonly responder: ChallengeResponder,
    private readonly options: RegistrationOptions,
  ) {}

  register(): Promise<RegisterOutcome> {
    return this.send(this.options.expiresSeconds ?? 600).then((response) => {
      const outcome = outcomeOf(response);
      if (outcome.ok) {
        this.registered = true;
        // Refresh well before the registrar drops us; calls can outlast a short binding.
        const delay = Math.max(outcome.expires * 0.8, 10) * 1000;
        this.refreshTimer = setTimeout(() => {
          void this.register().then((next) => {
            if (!next.ok)
              this.options.logger.warn('REGISTER refresh failed', { sipCode: next.sipCode, cause: next.message });
          });
        }, delay);
        this.refreshTimer.unref();
      }
      return outcome;
    });
  }

  /** Removes our binding; resolves on any final answer (or after `timeoutMs`), never rejects. */
  async unregister(timeoutMs = 5000): Promise<void> {
    clearTimeout(this.refreshTimer);
    if (!this.registered) return;
    this.registered = false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.send(0).then((response) => {
        if (response.status >= 300) this.options.logger.warn('unREGISTER refused', { sipCode: response.status });
      }),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private send(expires: number): Promise<IncomingResponse> {
    const { registrarUri, aor, contact } = this.options;
    return new Promise((resolve) => {
      sendAuthenticated(
        this.stack,
        this.responder,
        () => ++this.cseq,
        (cseq): OutgoingRequest => ({
          method: 'REGISTER',
          uri: registrarUri,
          headers: {
            from: { uri: aor, params: { tag: this.tag } },
            to: { uri: aor, params: {} },
            callId: this.callId,
            cseq: { seq: cseq, method: 'REGISTER' },
            contact: [contact],
            extra: { expires: String(expires), 'user-agent': USER_AGENT },
          },
        }),
        (response) => {
          if (response.status >= 200) resolve(response);
        },
      );
    });
  }
}

export const USER_AGENT = 'sip-rtmp-gateway';

function outcomeOf(response: IncomingResponse): RegisterOutcome {
  if (response.status >= 200 && response.status < 300) {
    const fromContact = response.headers.contact?.[0]?.params.expires;
    const expires = Number(fromContact ?? response.headers.extra.expires ?? 600);
    return { ok: true, expires: Number.isFinite(expires) && expires > 0 ? expires : 600 };
  }
  if (response.status === 401 || response.status === 407) {
    return {
      ok: false,
      reason: 'auth',
      sipCode: response.status,
      message: `REGISTER refused: ${response.status} ${response.reason}`,
    };
  }
  if (response.local && response.status === 408)
    return { ok: false, reason: 'timeout', message: 'no answer to REGISTER' };
  return {
    ok: false,
    reason: 'sip',
    sipCode: response.local ? undefined : response.status,
    message: response.local
      ? 'could not reach the registrar'
      : `REGISTER refused: ${response.status} ${response.reason}`,
  };
}
