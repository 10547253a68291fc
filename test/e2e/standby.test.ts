/**
 * Standby media tasks in local mode (`npm start`, functions/standby-pool.ts): tasks started before any call wait
 * idle; a POST hands one its call (a sipp UAS streams a tone to nginx-rtmp), the pool refills, a task that dies
 * is replaced, one idle past its time is recycled, and STANDBY_TASKS=0 turns the pool off.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { LocalServer } from '../support/local-server.ts';
import { makeToneWav } from '../support/media-task.ts';
import { measureTone } from '../support/media-check.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { commandName, isRunning, processTree } from '../support/proc-stats.ts';
import { SippPeer } from '../support/sipp.ts';

let dir: string;
let nginx: NginxRtmp;
const { owned, defer } = useCleanup();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'standby-e2e-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startServer(name: string, env: Record<string, string>) {
  const server = await LocalServer.start(join(dir, name), { SWEEP_INTERVAL_SECONDS: '1', ...env });
  defer(() => server.stop());
  return server;
}

/** The server's node children: before any call, its standby tasks. */
async function taskPids(server: LocalServer): Promise<number[]> {
  const tree = (await processTree(server.process.pid!)).slice(1);
  const names = await Promise.all(tree.map(commandName));
  return tree.filter((_pid, index) => names[index] === 'node').sort((a, b) => a - b);
}

async function idleStandbys(server: LocalServer): Promise<number> {
  return (await server.metrics())('gateway_standby_tasks{state="idle"}');
}

function call(callId: string, sipPort: number) {
  return {
    callId,
    callee: '10000',
    rtmpUrl: nginx.url,
    rtmpStream: callId,
    hasAudio: true,
    hasVideo: false,
    connection: { sipLogin: '10000', sipPassword: 'Standby-Passw0rd', sipDomain: '127.0.0.1', sipPort },
  };
}

describe('standby tasks (local mode)', () => {
  it('hands a call to a task started before the POST, streams it, and refills the pool', async () => {
    const server = await startServer('claim', { STANDBY_TASKS: '2' });
    await waitFor(async () => (await idleStandbys(server)) === 2, 20_000, 'two idle standby tasks');
    const standbys = await taskPids(server);
    expect(standbys).toHaveLength(2);

    const peer = owned(
      await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, calls: 1, timeoutSeconds: 60 }),
    );
    expect((await server.request('POST', '/v1/calls', call('standby1', peer.port))).status).toBe(201);
    const streaming = await server.waitForCall('standby1', (c) => c.state === 'streaming');
    // The call runs in one of the tasks that were waiting, not in one started for it.
    expect(standbys).toContain(Number(/^local:(\d+)$/.exec(streaming.taskRef)?.[1]));
    expect(server.logLines.join('\n')).toContain('call started on a standby task');
    // The pool is back to two idle tasks beside the call's.
    await waitFor(async () => (await idleStandbys(server)) === 2, 20_000, 'the pool to refill');
    expect(await taskPids(server).then((pids) => pids.length)).toBeGreaterThanOrEqual(3);

    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await server.request('DELETE', '/v1/calls/standby1');
    await server.waitForCall('standby1', (c) => c.state === 'ended');
    expect((await peer.finished()).code).toBe(0);
    const tone = await measureTone(await nginx.waitForRecording('standby1'));
    expect(tone.frequencyHz).toBeGreaterThan(950);
    expect(tone.frequencyHz).toBeLessThan(1050);
    expect(server.logLines.join('\n')).not.toContain('Standby-Passw0rd');
  });

  it('replaces a standby task that dies, and never hands a call to the dead one', async () => {
    const server = await startServer('replace', { STANDBY_TASKS: '1' });
    await waitFor(async () => (await idleStandbys(server)) === 1, 20_000, 'an idle standby task');
    const [dead] = await taskPids(server);
    process.kill(dead!, 'SIGKILL');
    await waitFor(async () => !(await isRunning(dead!)), 5_000, 'the standby task to die');
    let fresh: number | undefined;
    await waitFor(
      async () => {
        [fresh] = (await taskPids(server)).filter((pid) => pid !== dead);
        return fresh !== undefined && (await idleStandbys(server)) === 1;
      },
      20_000,
      'a new standby task',
    );

    const peer = owned(
      await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, calls: 1, timeoutSeconds: 60 }),
    );
    await server.request('POST', '/v1/calls', call('standby2', peer.port));
    const streaming = await server.waitForCall('standby2', (c) => c.state === 'streaming');
    expect(streaming.taskRef).toBe(`local:${fresh}`);
    await server.request('DELETE', '/v1/calls/standby2');
    await server.waitForCall('standby2', (c) => c.state === 'ended');
  });

  it('recycles a standby task idle past STANDBY_MAX_IDLE_SECONDS', async () => {
    const server = await startServer('recycle', { STANDBY_TASKS: '1', STANDBY_MAX_IDLE_SECONDS: '10' });
    await waitFor(async () => (await idleStandbys(server)) === 1, 20_000, 'an idle standby task');
    const [first] = await taskPids(server);
    await waitFor(async () => !(await isRunning(first!)), 30_000, 'the idle task to be recycled');
    await waitFor(async () => (await idleStandbys(server)) === 1, 20_000, 'its replacement');
    expect(await taskPids(server)).not.toContain(first);
    expect(server.logLines.join('\n')).toContain('idle too long');
  });

  it('with STANDBY_TASKS=0 starts no task before a call, and launches one for it', async () => {
    const server = await startServer('off', { STANDBY_TASKS: '0' });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await taskPids(server)).toEqual([]);
    const peer = owned(
      await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, calls: 1, timeoutSeconds: 60 }),
    );
    await server.request('POST', '/v1/calls', call('standby3', peer.port));
    await server.waitForCall('standby3', (c) => c.state === 'streaming');
    expect(server.logLines.join('\n')).not.toContain('call started on a standby task');
    await server.request('DELETE', '/v1/calls/standby3');
    await server.waitForCall('standby3', (c) => c.state === 'ended');
  });
});
