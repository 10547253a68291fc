/**
 * RFC 4028 session timers, the header arithmetic only: Session-Expires and Min-SE values in, the headers we send
 * and when we refresh out. No I/O: sip-call.ts sends and schedules.
 */

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  /** Seconds (RFC 4028 section 4, delta-seconds). */
  interval: number;
  refresher?: Refresher;
}

/**
 * Refreshing more often than this is never needed; it only stops a peer asking for a tiny interval from making us
 * send re-INVITEs back to back.
 */
const MIN_REFRESH_DELAY_MS = 1000;
/** Node's timers hold 2^31 - 1 ms (24.8 days); a longer delay fires after 1 ms, and every refresh would re-arm it so. */
const MAX_REFRESH_DELAY_MS = 2 ** 31 - 1;

/** RFC 4028 section 4 `Session-Expires` (or its compact form `x`) from a message's other headers. */
export function sessionExpiresOf(extra: Record<string, string>): SessionExpires | undefined {
  const value = extra['session-expires'] ?? extra.x;
  const match = value === undefined ? null : /^\s*(\d{1,10})\s*((?:;[^;]*)*)$/.exec(value);
  if (!match) return undefined;
  const refresher = /;\s*refresher\s*=\s*(uac|uas)\s*(?:;|$)/i.exec(match[2]!)?.[1]?.toLowerCase() as
    Refresher | undefined;
  return { interval: Number(match[1]), ...(refresher ? { refresher } : {}) };
}

/** RFC 4028 section 5 `Min-SE` from a message's other headers (a 422's, in practice). */
export function minSeOf(extra: Record<string, string>): number | undefined {
  const match = /^\s*(\d{1,10})\s*(?:;|$)/.exec(extra['min-se'] ?? '');
  return match ? Number(match[1]) : undefined;
}

/**
 * The timer headers of an INVITE we send. `minSe` is the largest Min-SE a 422 gave us (RFC 4028 section 7.4: the
 * retry, and every refresh after it, carries it, with Session-Expires no smaller). Without one we only say we
 * support timers and leave the interval to the peer.
 */
export function inviteTimerHeaders(minSe: number | undefined, session?: SessionExpires): Record<string, string> {
  const headers: Record<string, string> = { supported: 'timer' };
  const interval = Math.max(session?.interval ?? 0, minSe ?? 0);
  if (interval > 0)
    headers['session-expires'] = session?.refresher ? `${interval};refresher=${session.refresher}` : String(interval);
  if (minSe !== undefined) headers['min-se'] = String(minSe);
  return headers;
}

/** RFC 4028 section 10: the refresher sends its refresh when half the session interval has elapsed. */
export function refreshDelayMs(interval: number): number {
  return Math.min(Math.max((interval * 1000) / 2, MIN_REFRESH_DELAY_MS), MAX_REFRESH_DELAY_MS);
}
