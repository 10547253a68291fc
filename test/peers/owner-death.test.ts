/**
 * A test runner killed mid-test (a timeout, Ctrl-C twice, an OOM kill) runs no afterEach. Every peer it started
 * must still go with it, or the next run finds ports taken and a machine busy with orphans.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { useCleanup } from '../support/cleanup.ts';
import { waitFor } from '../support/nginx-rtmp.ts';
import { commandName, isRunning, processTree } from '../support/proc-stats.ts';

const OWNER = fileURLToPath(new URL('./peer-owner.ts', import.meta.url));

describe('test peers die with the process that started them', () => {
  const { defer } = useCleanup();

  it('leaves nothing running after its owner is SIGKILLed', { timeout: 90_000 }, async () => {
    // The peers' temp dirs go here, so that what the killed owner cannot remove is removed below.
    const scratch = await mkdtemp(join(tmpdir(), 'owner-death-'));
    defer(() => rm(scratch, { recursive: true, force: true }));
    const owner = await OwnedProcess.start({
      name: 'peer owner',
      command: process.execPath,
      args: ['--import', 'tsx', OWNER],
      env: { ...process.env, TMPDIR: scratch },
      diesWithOwner: true,
      readyWhen: (line) => line === 'ready',
      readyTimeoutMs: 60_000,
    });
    defer(() => owner.close('SIGKILL'));
    const [, ...descendants] = await processTree(owner.pid!);
    // Should this test fail, it still must not leave what it measured behind.
    defer(async () => {
      for (const pid of descendants) if (await isRunning(pid)) process.kill(pid, 'SIGKILL');
    });
    const names = await Promise.all(descendants.map(commandName));
    expect(names).toEqual(expect.arrayContaining(['sipp', 'nginx', 'baresip', 'kamailio', 'java', 'node', 'ffmpeg']));
    expect(names.filter((name) => name === 'kamailio').length, 'kamailio forks its workers').toBeGreaterThan(1);

    owner.signal('SIGKILL');
    await owner.exited;
    const survivors = async () =>
      (
        await Promise.all(
          descendants.map(async (pid, index) => ((await isRunning(pid)) ? [`${names[index]} ${pid}`] : [])),
        )
      ).flat();
    await waitFor(async () => (await survivors()).length === 0, 10_000, 'the peers to exit').catch(() => {});
    expect(await survivors(), 'still running 10 s after their owner died').toEqual([]);
  });
});
