/**
 * The SIP password stays out of everything an operator, another user of the host or an API client can read:
 * the media task's logs at debug level and its state events, the argument lists of the task and its ffmpeg
 * child, and the local server's answers, logs, ports and files. Each call really authenticates with the password
 * (sipp's auth-401 scenario verifies the digest and fails otherwise), so "not found" means "used but not leaked".
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { LocalServer } from '../support/local-server.ts';
import { MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { listeningTcpPorts, processTree } from '../support/proc-stats.ts';
import { SippPeer } from '../support/sipp.ts';

const { owned, defer } = useCleanup();
let nginx: NginxRtmp;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'secrets-'));
  nginx = await NginxRtmp.start();
});
afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A password no other text could contain by chance, and the forms it could leak in besides itself. */
function uniquePassword(): { password: string; forms: string[] } {
  const password = `Pw-${randomUUID()}-é!`;
  return {
    password,
    forms: [
      password,
      encodeURIComponent(password),
      Buffer.from(password).toString('base64'),
      JSON.stringify(password).slice(1, -1),
    ],
  };
}

function expectAbsent(texts: string[], forms: string[], where: string): void {
  const joined = texts.join('\n');
  expect(joined.length, `${where} is empty: the test would prove nothing`).toBeGreaterThan(0);
  for (const form of forms)
    expect(joined.includes(form), `${where} contains the password (${JSON.stringify(form)})`).toBe(false);
}

const cmdline = (pid: number) =>
  readFile(`/proc/${pid}/cmdline`, 'utf8')
    .then((text) => text.replaceAll('\0', ' '))
    .catch(() => '');

async function authSipp(password: string): Promise<SippPeer> {
  return owned(await SippPeer.start({ scenario: 'auth-401.xml', keys: { pw: password }, timeoutSeconds: 60 }));
}

describe('the SIP password never leaks', () => {
  it('media task: not in debug logs, state events, or the argument lists of the task and its ffmpeg', async () => {
    const { password, forms } = uniquePassword();
    const peer = await authSipp(password);
    const spec = testCallSpec({
      rtmpUrl: nginx.url,
      rtmpStream: 'secrets1',
      connection: { sipPort: peer.port, sipPassword: password, sipAuthenticationName: 'alice' },
    });
    const task = owned(await MediaTaskProcess.start(spec, { LOG_LEVEL: 'debug' }));
    await task.waitForEvent('answered');

    // While the call is live: ffmpeg is running under the task.
    let tree: number[] = [];
    let lines: string[] = [];
    await waitFor(
      async () => {
        tree = await processTree(task.pid!);
        lines = await Promise.all(tree.map(cmdline));
        return lines.some((line) => line.includes('ffmpeg'));
      },
      15_000,
      'an ffmpeg child of the media task',
    );
    expect(tree.length).toBeGreaterThanOrEqual(2);
    expectAbsent(lines, forms, `cmdline of ${tree.join(', ')}`);

    task.terminate();
    expect(await task.final()).toMatchObject({ type: 'ended' });
    expect((await peer.finished()).code, 'sipp verified the digest made from the password').toBe(0);
    expect(task.logLines.some((line) => line.includes('"level":"debug"') && line.includes('sip sent'))).toBe(true);
    expectAbsent(task.logLines, forms, 'the media task stderr logs');
    expectAbsent(
      task.events.map((event) => JSON.stringify(event)),
      forms,
      'the state events',
    );
  });

  it('local server: not in any API answer or log line, errors included', async () => {
    const { password, forms } = uniquePassword();
    const peer = await authSipp(password);
    const server = await LocalServer.start(join(dir, 'server'));
    defer(() => server.stop());
    const callId = `secret${Date.now()}`;
    const body = {
      callId,
      callee: '10000',
      rtmpUrl: nginx.url,
      rtmpStream: 'secrets2',
      hasAudio: true,
      hasVideo: false,
      connection: {
        sipLogin: '10000',
        sipPassword: password,
        sipAuthenticationName: 'alice',
        sipDomain: '127.0.0.1',
        sipPort: peer.port,
      },
    };
    const answers: string[] = [];
    const call = async (method: string, path: string, json?: unknown) => {
      const answer = await server.request(method, path, json);
      answers.push(`${method} ${path} → ${answer.status} ${answer.text}`);
      return answer;
    };

    expect((await call('POST', '/v1/calls', body)).status).toBe(201);
    // The task's own log says when the call is live; the record's state is not needed for what is checked here.
    await waitFor(
      () => server.logLines.some((line) => line.includes('"message":"ffmpeg started"') && line.includes(callId)),
      20_000,
      'the call to be answered',
    );
    expect((await call('POST', '/v1/calls', body)).status).toBe(200);
    // The store that holds the password has no TCP port to be read through (a Unix socket): the API's is the only one.
    expect(await listeningTcpPorts(server.process.pid!)).toEqual([Number(new URL(server.baseUrl).port)]);
    // Nor are its files open to other users of the host.
    expect(((await stat(join(dir, 'server', 'dynamodb'))).mode & 0o777).toString(8)).toBe('700');
    expect(
      (await call('POST', '/v1/calls', { ...body, connection: { ...body.connection, sipPassword: `${password}x` } }))
        .status,
    ).toBe(409);
    expect(
      (
        await call('POST', '/v1/calls', {
          ...body,
          callId: 'toolong',
          connection: { ...body.connection, sipPassword: password.repeat(5) },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await call('POST', '/v1/calls', {
          ...body,
          callId: 'crlf',
          connection: { ...body.connection, sipPassword: `${password}\r\nX: y` },
        })
      ).status,
    ).toBe(400);
    expect(
      (await call('POST', '/RESTCall/call', { ...body, connection: { ...body.connection, sipPassword: 42 } })).status,
    ).toBe(400);
    expect((await call('GET', `/v1/calls/${callId}`)).status).toBe(200);
    expect((await call('GET', '/v1/calls')).status).toBe(200);
    expect((await call('GET', '/v1/calls?live=true')).status).toBe(200);
    expect((await call('POST', '/rest-api/call/find', { callId })).status).toBe(200);
    expect((await call('POST', '/rest-api/call/find_all', {})).status).toBe(200);
    expect((await call('GET', `/v1/calls/${callId}/deliveries`)).status).toBe(200);
    expect((await call('DELETE', `/v1/calls/${callId}`)).status).toBe(202);
    // sipp ends only once our BYE is answered, after it verified the digest made from the password.
    expect((await peer.finished()).code).toBe(0);
    expect((await call('GET', `/v1/calls/${callId}`)).status).toBe(200);

    expectAbsent(answers, forms, 'the API answers');
    expect(
      server.logLines.some((line) => line.includes('"level":"debug"') && line.includes('sip sent')),
      'task debug logs reach the server log',
    ).toBe(true);
    expectAbsent(server.logLines, forms, 'the server and task logs');
  });

  it('media task: ffmpeg does not inherit the password in its environment', async () => {
    const { password, forms } = uniquePassword();
    const peer = await authSipp(password);
    const spec = testCallSpec({
      rtmpUrl: nginx.url,
      rtmpStream: 'secrets3',
      connection: { sipPort: peer.port, sipPassword: password, sipAuthenticationName: 'alice' },
    });
    const task = owned(await MediaTaskProcess.start(spec));
    await task.waitForEvent('answered');
    let environments: string[] = [];
    await waitFor(
      async () => {
        const tree = (await processTree(task.pid!)).slice(1);
        const lines = await Promise.all(tree.map(cmdline));
        environments = await Promise.all(
          tree
            .filter((_, index) => lines[index]!.includes('ffmpeg'))
            .map((pid) => readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')),
        );
        return environments.some((text) => text.length > 0);
      },
      15_000,
      'the environment of an ffmpeg child',
    );
    task.terminate();
    await task.final();
    expectAbsent(environments, forms, 'the ffmpeg environment');
  });
});
