/**
 * Local mode end to end, as a newcomer runs it: `npm start` (functions/local/server.ts), the seed JSON POSTed to
 * the WCS route, a sipp UAS streaming a tone, nginx-rtmp receiving; the system's ffmpeg, checked at start;
 * hang-up over the API, requests of other sites' pages, task crashes, server shutdown, and 20 calls at once.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { chmod, mkdtemp, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { ProcessStartError } from '../../shared/owned-process.ts';
import { measureTone, probe } from '../support/media-check.ts';
import { makeToneWav } from '../support/media-task.ts';
import { LocalServer } from '../support/local-server.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { encoderPids } from '../support/proc-stats.ts';
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

/** The pid of a call's local media task, from its `local:<pid>` task reference. */
function taskPid(call: { taskRef?: string }): number {
  const pid = Number(/^local:(\d+)$/.exec(call.taskRef ?? '')?.[1]);
  expect(pid).toBeGreaterThan(0);
  return pid;
}

/** An orphan's parent is gone, so nobody may reap it at once: a zombie counts as gone, since it runs no code. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
}

/**
 * Should an orphaned task outlive the test, no later test may share the host with it or its ffmpegs: SIGTERM
 * lets it stop its children, and whatever still runs after the task's 10 s deadline is killed.
 */
async function reapOrphan(pid: number, children: number[]): Promise<void> {
  if (running(pid)) {
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !running(pid), 12_000, 'the orphaned task to stop').catch(() => undefined);
  }
  for (const target of [pid, ...children]) if (running(target)) process.kill(target, 'SIGKILL');
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
    const started = await server.request(
      'POST',
      '/RESTCall/call',
      seedBody('Xq2tlLcX89tTjaji', peer.port, 'lifestream1'),
    );
    expect(started.status).toBe(200);
    expect(started.text).not.toContain('Seed-Passw0rd');
    await server.waitForCall('Xq2tlLcX89tTjaji', (call) => call.state === 'streaming');
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    expect((await server.request('DELETE', '/v1/calls/Xq2tlLcX89tTjaji')).status).toBe(202);
    const ended = await server.waitForCall('Xq2tlLcX89tTjaji', (call) => call.state === 'ended');
    expect(ended.ended).toMatchObject({ by: 'local' });
    expect(ended.ended.durationSeconds).toBeGreaterThan(2.5);
    expect((await peer.finished()).code).toBe(0);
    expect((await probe(await nginx.waitForRecording('lifestream1'))).streams.map((stream) => stream.codec)).toEqual([
      'aac',
    ]);
    expect(server.logLines.join('\n')).not.toContain('Seed-Passw0rd');
  });

  it('GET /metrics during a real call: the call, its set-up times, then its RTP packets and RTMP bytes and how it ended', async () => {
    const server = await startServer('metrics');
    const peer = await startSipp();
    const scrape = () => server.metrics();
    await server.request('POST', '/v1/calls', seedBody('metrics1', peer.port, 'metrics1'));
    await server.waitForCall('metrics1', (call) => call.state === 'streaming');
    let value = await scrape();
    expect(value('gateway_calls_started_total')).toBe(1);
    expect(value('gateway_calls{state="streaming"}')).toBe(1);
    expect(value('gateway_post_to_dial_seconds_count')).toBe(1);
    expect(value('gateway_answer_to_media_seconds_count')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await server.request('DELETE', '/v1/calls/metrics1');
    await server.waitForCall('metrics1', (call) => call.state === 'ended');
    value = await scrape();
    expect(value('gateway_calls{state="streaming"}')).toBe(0);
    expect(value('gateway_calls_ended_total{by="local"}')).toBe(1);
    // sipp plays 50 packets a second.
    expect(value('gateway_rtp_packets_received_total')).toBeGreaterThan(50);
    expect(value('gateway_rtmp_bytes_out_total{destination="0"}')).toBeGreaterThan(10_000);
  });

  it("streams on the system's ffmpeg (FFMPEG_PATH): its encoder is that ffmpeg, and the tone arrives as AAC", async () => {
    const systemFfmpeg = execFileSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).trim();
    const server = await LocalServer.start(join(dir, 'system-ffmpeg'), { FFMPEG_PATH: systemFfmpeg });
    defer(() => server.stop());
    expect(server.logLines.join('\n')).toContain(`media tasks run ${systemFfmpeg}`);
    const peer = await startSipp();
    await server.request('POST', '/v1/calls', seedBody('systemFfmpeg1', peer.port, 'system-ffmpeg'));
    const pid = taskPid(await server.waitForCall('systemFfmpeg1', (call) => call.state === 'streaming'));
    const [encoder] = await encoderPids(pid);
    expect(await readlink(`/proc/${encoder}/exe`)).toBe(await realpath(systemFfmpeg));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await server.request('DELETE', '/v1/calls/systemFfmpeg1');
    await server.waitForCall('systemFfmpeg1', (call) => call.state === 'ended');
    const file = await nginx.waitForRecording('system-ffmpeg');
    expect((await probe(file)).streams.map((stream) => stream.codec)).toEqual(['aac']);
    expect(Math.abs((await measureTone(file)).frequencyHz - 1000)).toBeLessThan(50);
  });

  it('will not start on an ffmpeg that lacks what tasks use, and says what in one line', async () => {
    const unfit = join(dir, 'ffmpeg-without-rtmp');
    await writeFile(unfit, `#!/bin/sh\nffmpeg "$@" | grep -Ev '^  rtmp$'\n`);
    await chmod(unfit, 0o755);
    const error = await LocalServer.start(join(dir, 'unfit-ffmpeg'), { FFMPEG_PATH: unfit }).catch(
      (error: unknown) => error as ProcessStartError,
    );
    expect(error).toBeInstanceOf(ProcessStartError);
    expect((error as ProcessStartError).lastLines.join('\n')).toContain(
      `${unfit} lacks what the media task uses: protocol rtmp (`,
    );
  });

  it('without an API key, refuses a web page of another site (Origin) and a name rebound to it (Host); stores nothing', async () => {
    const server = await startServer('cross-site');
    const body = JSON.stringify(seedBody('crossSite', 9, 'cross-site'));
    const post = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const { port } = new URL(server.baseUrl);
        const sent = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/RESTCall/call',
            method: 'POST',
            headers: { 'content-type': 'text/plain', ...headers },
          },
          (answer) => {
            answer.resume();
            resolve(answer.statusCode ?? 0);
          },
        );
        sent.once('error', reject);
        sent.end(body);
      });
    expect(await post({ origin: 'https://evil.example' })).toBe(403);
    expect(await post({ host: 'rebound.example' })).toBe(403);
    expect((await server.request('GET', '/v1/calls')).json).toEqual({ calls: [] });
  });

  it('marks a call whose media task is killed as failed (crashed) within 10 s; its ffmpegs die with it', async () => {
    const server = await startServer('crash');
    const peer = await startSipp();
    await server.request('POST', '/v1/calls', { ...seedBody('crash1', peer.port, 'crash1') });
    const pid = taskPid(await server.waitForCall('crash1', (call) => call.state === 'streaming'));
    const ffmpegs = childPids(pid);
    expect(ffmpegs.length).toBeGreaterThanOrEqual(1); // the encoder, which publishes the one destination itself
    defer(() => reapOrphan(pid, ffmpegs));
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    // Nobody is left to reap them: the kernel's parent-death signal is what ends them.
    await waitFor(() => ffmpegs.every((child) => !running(child)), 2_000, "the task's ffmpegs to die with it");
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

  it('a task whose server is SIGKILLed hangs up (BYE) and exits; the next start marks the call failed (crashed)', async () => {
    const server = await LocalServer.start(join(dir, 'orphan'));
    defer(() => server.process.close('SIGKILL', 1000));
    const peer = await startSipp();
    await server.request('POST', '/v1/calls', seedBody('orphan1', peer.port, 'orphan1'));
    const pid = taskPid(await server.waitForCall('orphan1', (call) => call.state === 'streaming'));
    const ffmpegs = childPids(pid);
    defer(() => reapOrphan(pid, ffmpegs));
    expect(ffmpegs.length).toBeGreaterThan(0);
    await server.process.close('SIGKILL', 1000);
    const killedAt = Date.now();
    // uas-tone.xml passes only once a BYE arrived and was answered.
    expect((await peer.finished(10_000)).code, await peer.errors()).toBe(0);
    expect(await peer.received('BYE ')).toHaveLength(1);
    const left = Math.max(0, 10_000 - (Date.now() - killedAt));
    await waitFor(() => ![pid, ...ffmpegs].some(running), left, 'the orphaned task and its ffmpegs to exit');

    const restarted = await startServer('orphan');
    const record = (await restarted.request('GET', '/v1/calls/orphan1')).json;
    expect(record).toMatchObject({ callId: 'orphan1', state: 'failed', failure: { reason: 'crashed' } });
  });

  it('runs 20 calls to 20 streams in parallel; all arrive and all end', async () => {
    const server = await startServer('parallel');
    const peer = await startSipp(20);
    const ids = Array.from({ length: 20 }, (_, index) => `parallel${index}`);
    const answers = await Promise.all(
      ids.map((id) => server.request('POST', '/v1/calls', seedBody(id, peer.port, id))),
    );
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
