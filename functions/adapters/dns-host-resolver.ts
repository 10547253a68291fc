import { lookup } from 'node:dns/promises';
import type { HostResolver } from '../core/ports.ts';

/** A name that takes longer than this gets no answer: the POST waits for it, and a slow resolver is no refusal. */
const LOOKUP_MS = 2_000;

type Lookup = (host: string, options: { all: true; verbatim: true }) => Promise<Array<{ address: string }>>;

/**
 * The operating system's resolver (getaddrinfo, as ffmpeg and the SIP stack use it): every address it gives, or
 * none when it fails or is late.
 */
export function systemDnsResolver(lookupAll: Lookup = lookup): HostResolver {
  return async (host) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), LOOKUP_MS)));
    const answer = lookupAll(host, { all: true, verbatim: true }).then(
      (entries) => entries.map((entry) => entry.address),
      () => [],
    );
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}
