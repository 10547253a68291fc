/**
 * Local mode end to end, as a newcomer runs it: `npm start` (functions/local/server.ts), the seed JSON POSTed to
 * the WCS route, a sipp UAS streaming a tone, nginx-rtmp receiving; hang-up over the API, task crashes, server
 * shutdown, and 20 calls at once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { probe } from '../support/media-check.ts';
import { makeToneWav } from '../support/media-task.ts';
import { LocalServer } from '../support/local-server.ts';
import { NginxRtmp } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';

let dir: string;
let nginx: NginxRtmp;
const { owned, defer } = useCleanup();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-e2e-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startServer(name: string) {
  const server = await LocalServer.start(join(dir, name));
  defer(() => server.stop());
  return server;
}

async function startSipp(calls = 1) {
  return owned(await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, calls, timeoutSeconds: 120 }));
}

/** The seed's body, strings and all, aimed at the local peer and RTMP server. */
function seedBody(callId: string, sipPort: number, rtmpStream: string) {
  return {
    callId,
    callee: '10000',
    rtmpUrl: nginx.url,
    rtmpStream,
    hasAudio: 'true',
    hasVideo: 'false',
    connection: {
      sipLogin: '10000',
      sipPassword: 'Seed-Passw0rd',
      sipAuthenticationName: '10000',
      sipDomain: '127.0.0.1',
      sipPort: String(sipPort),
      sipRegisterRequired: 'false',
      appKey: 'callApp',
    },
  };
}

describe('npm start (local mode)', () => {
  it('takes the seed JSON on /RESTCall/call, streams the call, and DELETE hangs it up with a duration', async () => {
    const server = await startServer('single');
    const peer = await startSipp();
    const started = await server.request('POST', '/RESTCall/call', seedBody('Xq2tlLcX89tTjaji', peer.port, 'lifestream1'));
    expect(started.status).toBe(200);
    expect(started.text).not.toContain('Seed-Passw0rd');
    await server.waitForCall('Xq2tlLcX89tTjaji', (call) => call.state === 'streaming');
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    expect((await server.request('DELETE', '/v1/calls/Xq2tlLcX89tTjaji')).status).toBe(202);
    const ended = await server.waitForCall('Xq2tlLcX89tTjaji', (call) => call.state === 'ended');
    expect(ended.ended).toMatchObject({ by: 'local' });
    expect(ended.ended.durationSeconds).toBeGreaterThan(2.5);
    expect((await peer.finished()).code).toBe(0);
    expect((await probe(await nginx.waitForRecording('lifestream1'))).streams.map((stream) => stream.codec)).toEqual(['aac']);
    expect(server.logLines.join('\n')).not.toContain('Seed-Passw0rd');
  });

  it('marks a call whose media task is killed as failed (crashed) within 10 s', async () => {
    const server = await startServer('crash');
    const peer = await startSipp();
    await server.request('POST', '/v1/calls', { ...seedBody('crash1', peer.port, 'crash1') });
    const streaming = await server.waitForCall('crash1', (call) => call.state === 'streaming');
    const pid = Number(/^local:(\d+)$/.exec(streaming.taskRef)?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    const failed = await server.waitForCall('crash1', (call) => call.state === 'failed', 10_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(failed.failure).toMatchObject({ reason: 'crashed' });
  });

  it('hangs up live calls (BYE) when the server is stopped, and keeps the record for the next start', async () => {
    const server = await LocalServer.start(join(dir, 'shutdown'));
    defer(() => server.process.close('SIGKILL', 1000));
    const peer = await startSipp();
    await server.request('POST', '/v1/calls', seedBody('shutdown1', peer.port, 'shutdown1'));
    await server.waitForCall('shutdown1', (call) => call.state === 'streaming');
    expect(await server.stop()).toMatchObject({ code: 0 });
    expect((await peer.finished()).code).toBe(0);

    const restarted = await startServer('shutdown');
    const record = (await restarted.request('GET', '/v1/calls/shutdown1')).json;
    expect(record).toMatchObject({ callId: 'shutdown1', state: 'ended' });
  });

  it('runs 20 calls to 20 streams in parallel; all arrive and all end', async () => {
    const server = await startServer('parallel');
    const peer = await startSipp(20);
    const ids = Array.from({ length: 20 }, (_, index) => `parallel${index}`);
    const answers = await Promise.all(ids.map((id) => server.request('POST', '/v1/calls', seedBody(id, peer.port, id))));
    expect(answers.map((answer) => answer.status)).toEqual(ids.map(() => 201));
    await Promise.all(ids.map((id) => server.waitForCall(id, (call) => call.state === 'streaming', 90_000)));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await Promise.all(ids.map((id) => server.request('DELETE', `/v1/calls/${id}`)));
    const ended = await Promise.all(ids.map((id) => server.waitForCall(id, (call) => call.state === 'ended', 60_000)));
    expect(ended.every((call) => call.ended.durationSeconds > 1.5)).toBe(true);
    expect((await peer.finished(60_000)).code, await peer.errors()).toBe(0);
    for (const id of ids) {
      expect((await probe(await nginx.waitForRecording(id))).streams.map((stream) => stream.codec)).toEqual(['aac']);
    }
  }, 240_000);
});
