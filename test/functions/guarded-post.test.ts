/** The status callbacks' HTTP client against a real HTTP server on 127.0.0.1, with real and scripted resolvers. */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { guardedPost } from '../../functions/adapters/guarded-post.ts';

interface Received {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** Answers every request with `status` (and a Location), or never when `status` is 'hang'. */
async function receiver(status: number | 'hang' = 204): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ method: request.method, url: request.url, headers: request.headers, body });
      if (status === 'hang') return;
      response.writeHead(status, { location: 'http://169.254.169.254/latest/meta-data/' }).end('ignored');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, received };
}

type Callback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A resolver answering every name with `addresses`, in whichever form node:net asks for (one, or all). */
function scripted(addresses: string[], asked: LookupOptions[] = []) {
  return (_hostname: string, options: LookupOptions, callback: Callback) => {
    asked.push(options);
    const entries = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, entries);
    else callback(null, entries[0]!.address, entries[0]!.family);
  };
}

const post = (headers: Record<string, string> = {}) => ({
  headers,
  body: '{"state":"ringing"}',
  signal: AbortSignal.timeout(5_000),
});

describe('guardedPost', () => {
  it('POSTs the body and headers, and resolves to the status', async () => {
    const { port, received } = await receiver(202);
    expect(await guardedPost()(`http://127.0.0.1:${port}/calls?token=abc`, post({ 'x-gateway-delivery': 'c:1' }))).toBe(
      202,
    );
    expect(received).toEqual([
      expect.objectContaining({ method: 'POST', url: '/calls?token=abc', body: '{"state":"ringing"}' }),
    ]);
    expect(received[0]!.headers).toMatchObject({ 'x-gateway-delivery': 'c:1', 'content-length': '19' });
  });

  it('never follows a redirect: a 302 to the metadata service is a status, and one request was made', async () => {
    const { port, received } = await receiver(302);
    expect(await guardedPost()(`http://127.0.0.1:${port}/`, post())).toBe(302);
    expect(received).toHaveLength(1);
  });

  it.each([
    ['the metadata service', ['169.254.169.254']],
    ['ECS task metadata among public answers', ['203.0.113.7', '169.254.170.2']],
    ['a link-local IPv6 answer', ['fe80::1']],
  ])('refuses a name that resolves to %s at delivery time, connecting nowhere', async (_name, addresses) => {
    const { port, received } = await receiver();
    const refused = guardedPost(scripted(addresses))(`http://hooks.rebound.test:${port}/`, post());
    await expect(refused).rejects.toThrow(
      /hooks\.rebound\.test resolves to (169\.254|fe80).*link-local or cloud metadata/,
    );
    expect(received).toEqual([]);
  });

  it('connects to the answer it checked, whichever lookup form node:net uses', async () => {
    const { port, received } = await receiver();
    const asked: LookupOptions[] = [];
    expect(await guardedPost(scripted(['127.0.0.1'], asked))(`http://hooks.example.test:${port}/`, post())).toBe(204);
    expect(asked.length).toBeGreaterThan(0);
    expect(received).toHaveLength(1);
  });

  it('goes through the system resolver by default (localhost)', async () => {
    const { port } = await receiver();
    const asked: LookupOptions[] = [];
    const spy = (hostname: string, options: LookupOptions, callback: Callback) => {
      asked.push(options);
      dnsLookup(hostname, options, callback as never);
    };
    expect(await guardedPost(spy)(`http://localhost:${port}/`, post())).toBe(204);
    expect(await guardedPost()(`http://localhost:${port}/`, post())).toBe(204);
    expect(asked).toHaveLength(1);
  });

  it('gives up when the signal aborts (a receiver that never answers)', async () => {
    const { port } = await receiver('hang');
    await expect(
      guardedPost()(`http://127.0.0.1:${port}/`, { ...post(), signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow(/abort/i);
  });

  it('fails with the connection error when nothing listens', async () => {
    const { port } = await receiver();
    server!.close();
    await expect(guardedPost()(`http://127.0.0.1:${port}/`, post())).rejects.toThrow(/ECONNREFUSED/);
  });
});
