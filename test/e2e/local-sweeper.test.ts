/**
 * The local server's sweeper (functions/sweeper.ts on a timer in functions/local/server.ts) against a real media
 * task: a task SIGSTOPped mid-call (a wedged event loop never enforces its own max duration) is killed once its
 * call is past `maxDurationSeconds` + the grace, the call ends `limit`, and its stream key is free again. Short
 * graces and interval through the server's environment keep it fast; every wait is a bounded poll.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ENV } from '../../functions/local/local-config.ts';
import { SWEEP_ENV } from '../../functions/sweep-config.ts';
import { useCleanup } from '../support/cleanup.ts';
import { LocalServer } from '../support/local-server.ts';
import { makeToneWav } from '../support/media-task.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { isRunning, processTree } from '../support/proc-stats.ts';
import { SippPeer } from '../support/sipp.ts';

let dir: string;
let nginx: NginxRtmp;
const { owned, defer } = useCleanup();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-sweeper-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Long enough for the call to be streaming before the task's own timer would end it; short for the test. */
const MAX_DURATION_SECONDS = 8;

function callBody(callId: string, sipPort: number, rtmpStream: string) {
  return {
    callId,
    callee: '10000',
    rtmpUrl: nginx.url,
    rtmpStream,
    hasAudio: true,
    hasVideo: false,
    maxDurationSeconds: MAX_DURATION_SECONDS,
    connection: {
      sipLogin: '10000',
      sipPassword: 'Sweep-Passw0rd',
      sipAuthenticationName: '10000',
      sipDomain: '127.0.0.1',
      sipPort,
      sipRegisterRequired: false,
    },
  };
}

describe('local sweeper', () => {
  it('kills a SIGSTOPped task past maxDuration + grace, records ended (limit), and frees the stream key', async () => {
    const server = await LocalServer.start(join(dir, 'hung'), {
      [SWEEP_ENV.intervalSeconds]: '0.5',
      [SWEEP_ENV.limitGraceSeconds]: '1',
      [LOCAL_ENV.stopGraceSeconds]: '1',
    });
    defer(() => server.stop());
    const peer = owned(await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, timeoutSeconds: 60 }));

    expect((await server.request('POST', '/v1/calls', callBody('hung1', peer.port, 'hung1'))).status).toBe(201);
    const streaming = await server.waitForCall(
      'hung1',
      (call) => call.state === 'streaming',
      (MAX_DURATION_SECONDS - 2) * 1000,
    );
    const pid = Number(/^local:(\d+)$/.exec(streaming.taskRef ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    const tree = await processTree(pid);
    process.kill(pid, 'SIGSTOP');
    // Should the test fail before the sweeper acts, nothing stopped may outlive it.
    defer(async () => {
      for (const child of tree) if (await isRunning(child)) process.kill(child, 'SIGKILL');
    });

    const createdAt = Date.parse(streaming.createdAt);
    const ended = await server.waitForCall(
      'hung1',
      (call) => call.state !== 'streaming',
      (MAX_DURATION_SECONDS + 15) * 1000,
    );
    expect(ended).toMatchObject({
      state: 'ended',
      ended: { by: 'limit', reason: expect.stringContaining('max-duration') },
    });
    // Not before the limit + grace: the task had its chance to end the call itself.
    expect(Date.parse(ended.stateTimes.ended)).toBeGreaterThanOrEqual(createdAt + (MAX_DURATION_SECONDS + 1) * 1000);
    // SIGTERM cannot reach a stopped process; the SIGKILL after the stop grace does, and its ffmpeg dies with it.
    await waitFor(
      async () => !(await Promise.all(tree.map(isRunning))).some(Boolean),
      10_000,
      'the stopped task and its ffmpeg to die',
    );
    expect(server.logLines.join('\n')).toContain('stuck call closed by the sweeper');

    // The stream key is free: a new call to the same stream is accepted (to a port where nobody answers; hung up at once).
    const next = await server.request('POST', '/v1/calls', callBody('next1', 9, 'hung1'));
    expect(next.status).toBe(201);
    expect((await server.request('DELETE', '/v1/calls/next1')).status).toBe(202);
    await server.waitForCall('next1', (call) => call.state === 'ended' || call.state === 'failed', 20_000);
    expect(server.logLines.join('\n')).not.toContain('Sweep-Passw0rd');
  }, 90_000);
});
