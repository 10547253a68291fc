/**
 * Without an API key, only the address it listens on keeps strangers out of the API, and a browser on this machine
 * reaches that address for whatever page it shows. A cross-site POST needs no preflight (bodies are read as JSON
 * whatever their Content-Type), so any web page could place a call: dial a PBX on the user's network and stream it
 * to the page's own RTMP server. And a name the page's site re-points to 127.0.0.1 (DNS rebinding) makes the page
 * same-origin. So, keyless, a request a browser sent for another site is refused: its Origin, when there is one,
 * must be the origin the request went to, and on a loopback-only server the name it went to must be a loopback one.
 */
import type { MiddlewareHandler } from 'hono';
import { isIP } from 'node:net';

export class CrossSiteRequestError extends Error {
  override readonly name = 'CrossSiteRequestError';
}

export function crossSiteGuard(options: { loopbackOnly: boolean }): MiddlewareHandler {
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (options.loopbackOnly && !isLoopbackName(url.hostname)) {
      throw new CrossSiteRequestError(
        `this server answers to loopback names only, not ${url.hostname}, while it has no API key`,
      );
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && originHost(origin) !== url.host) {
      throw new CrossSiteRequestError(
        `requests from pages of other sites (Origin ${origin.slice(0, 100)}) are refused while the server has no API key`,
      );
    }
    await next();
  };
}

/** `localhost`, 127.0.0.0/8 and ::1: the names and addresses only this machine reaches. */
export function isLoopbackName(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name === '::1') return true;
  return isIP(name) === 4 && name.startsWith('127.');
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    // `null` (a sandboxed frame, a file) and anything unparsable name no site of ours.
    return undefined;
  }
}
