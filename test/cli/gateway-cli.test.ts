import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app/create-app.ts';
import { runCli } from '../../functions/cli/gateway-cli.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeLauncher, MemoryCallStore, fakeDns, fixedKeys } from '../functions/fakes.ts';

const BIN = fileURLToPath(new URL('../../functions/cli/bin.mjs', import.meta.url));

function setup(apiKey?: string) {
  const store = new MemoryCallStore();
  const launcher = new FakeLauncher();
  const app = createApp({
    store,
    resolveHost: fakeDns(),
    launcher,
    logger: silentLogger,
    newCallId: () => 'generated-1',
    ...(apiKey ? { apiKeys: fixedKeys(apiKey) } : {}),
  });
  const requests: { url: string; init: RequestInit }[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const run = (argv: string[], env: NodeJS.ProcessEnv = {}, stdin = '') =>
    runCli(argv, {
      env,
      fetch: (async (url: string, init: RequestInit) => {
        requests.push({ url, init });
        return app.fetch(new Request(url, init));
      }) as unknown as typeof fetch,
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      readStdin: async () => stdin,
    });
  return { store, launcher, run, out, err, requests };
}

const callFlags = [
  'call',
  '--callee',
  '10000',
  '--rtmp-url',
  'rtmp://cdn.example.com/live',
  '--stream',
  's1',
  '--sip-domain',
  'pbx.example.com',
  '--sip-login',
  '10000',
  '--call-id',
  'cli-1',
];

describe('sip-rtmp-gateway CLI', () => {
  it('starts a call from flags with the SIP password from the environment, never from argv', async () => {
    const { run, out, launcher, requests } = setup();
    expect(await run([...callFlags, '--sip-port', '5080', '--video'], { SIP_PASSWORD: 'env-secret' })).toBe(0);
    expect(out).toEqual(['cli-1 dialing']);
    expect(launcher.launches[0]!.spec).toMatchObject({
      callId: 'cli-1',
      hasVideo: true,
      connection: { sipPort: 5080, sipPassword: 'env-secret' },
    });
    expect(requests[0]!.url).toBe('http://127.0.0.1:9091/v1/calls');
  });

  it('starts a call from a JSON body on stdin', async () => {
    const { run, out } = setup();
    const body = {
      callee: '1',
      rtmpUrl: 'rtmp://cdn.example.com/live',
      rtmpStream: 'x',
      connection: { sipLogin: '1', sipDomain: 'pbx.example.com' },
    };
    expect(await run(['call', '--body', '-', '--json'], {}, JSON.stringify(body))).toBe(0);
    expect(JSON.parse(out[0]!)).toMatchObject({ callId: 'generated-1', state: 'dialing' });
  });

  it('lists, sends DTMF and hangs up, sending the API key from GATEWAY_API_KEY', async () => {
    const { run, out, launcher, requests } = setup('key-123');
    const env = { GATEWAY_API_KEY: 'key-123', GATEWAY_URL: 'http://gw.test:8080/' };
    expect(await run(callFlags, env)).toBe(0);
    expect(await run(['ls'], env)).toBe(0);
    expect(out[1]).toBe('cli-1\tdialing\t10000\trtmp://cdn.example.com/live/s1');
    expect(await run(['dtmf', 'cli-1', '311705123#', '--info'], env)).toBe(0);
    expect(await run(['hangup', 'cli-1'], env)).toBe(0);
    expect(launcher.calls.slice(1)).toEqual([
      {
        op: 'command',
        callId: 'cli-1',
        command: { type: 'dtmf', digits: '311705123#', method: 'info' },
        taskRef: 'task-cli-1',
      },
      { op: 'stop', callId: 'cli-1', taskRef: 'task-cli-1' },
    ]);
    expect(
      requests.every(
        (r) =>
          r.url.startsWith('http://gw.test:8080/v1/calls') &&
          (r.init.headers as Record<string, string>).authorization === 'Bearer key-123',
      ),
    ).toBe(true);
  });

  it('prints the usage of a range, in all and per key (--key for one), or as JSON; --from is required', async () => {
    const { run, out, err, store } = setup('key-123');
    const env = { GATEWAY_API_KEY: 'key-123' };
    expect(await run(callFlags, env)).toBe(0);
    const record = (await store.get('cli-1'))!;
    const endedAt = new Date(Date.parse(record.createdAt) + 600_000).toISOString();
    await store.update(
      {
        ...record,
        state: 'ended',
        stateTimes: { ...record.stateTimes, ended: endedAt },
        ended: { by: 'local', reason: 'bye', durationSeconds: 600 },
      },
      record.version,
    );
    const from = new Date(Date.parse(record.createdAt) - 1_000).toISOString();
    expect(await run(['usage', '--from', from], env)).toBe(0);
    expect(out.slice(-2)).toEqual([
      '1 calls, 0.0 min streamed, 10.0 task min billed, 0 bytes out, ~$0.0025',
      '  default: 1 calls, 0.0 min streamed, 10.0 task min billed, 0 bytes out, ~$0.0025',
    ]);
    expect(await run(['usage', '--from', from, '--key', 'other'], env)).toBe(0);
    expect(out.at(-1)).toBe('0 calls, 0.0 min streamed, 0.0 task min billed, 0 bytes out, ~$0.0000');
    expect(await run(['usage', '--from', from, '--json'], env)).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({
      calls: 1,
      billableTaskSeconds: 600,
      byKey: [{ keyName: 'default' }],
    });
    expect(await run(['usage'], env)).toBe(2);
    expect(err.at(-1)).toMatch(/^--from is required/);
  });

  it('exits 1 with the API message when the API refuses', async () => {
    const { run, err } = setup();
    expect(await run(['hangup', 'nope'])).toBe(1);
    expect(err).toEqual(['error: 404 call nope not found']);
    expect(await run([...callFlags, '--callee', 'a b'])).toBe(1);
    expect(err[1]).toMatch(/^error: 400 callee /);
  });

  it.each([[[]], [['frobnicate']], [['dtmf', 'cli-1']], [['call', '--callee', 'x']], [['ls', '--bogus']]])(
    'exits 2 with usage for %j',
    async (argv) => {
      const { run, err, requests } = setup();
      expect(await run(argv)).toBe(2);
      expect(err.join('\n')).toContain('usage: sip-rtmp-gateway');
      expect(requests).toEqual([]);
    },
  );

  it('runs as the package bin against a served API', async () => {
    const store = new MemoryCallStore();
    const app = createApp({ store, resolveHost: fakeDns(), launcher: new FakeLauncher(), logger: silentLogger });
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const env = { ...process.env, GATEWAY_URL: url, SIP_PASSWORD: 'pw' };
      const { stdout } = await promisify(execFile)(process.execPath, [BIN, ...callFlags], { env });
      expect(stdout).toBe('cli-1 dialing\n');
      const listed = await promisify(execFile)(process.execPath, [BIN, 'ls', '--json'], { env });
      expect(JSON.parse(listed.stdout)).toMatchObject([{ callId: 'cli-1' }]);
    } finally {
      server.close();
    }
  });
});
