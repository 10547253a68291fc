/**
 * A test runner killed mid-test (a timeout, Ctrl-C twice, an OOM kill) runs no afterEach. Every peer it started
 * must still go with it, or the next run finds ports taken and a machine busy with orphans.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OwnedProcess } from '../../media-task/process/owned-process.ts';
import { useCleanup } from '../support/cleanup.ts';
import { waitFor } from '../support/nginx-rtmp.ts';
import { processTree } from '../support/proc-stats.ts';

const OWNER = fileURLToPath(new URL('./peer-owner.ts', import.meta.url));

/** A zombie is dead: it waits for a parent (init here) to reap it and holds no port. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function commandName(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

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
      for (const pid of descendants) if (await alive(pid)) process.kill(pid, 'SIGKILL');
    });
    const names = await Promise.all(descendants.map(commandName));
    expect(names).toEqual(expect.arrayContaining(['sipp', 'nginx', 'baresip', 'kamailio', 'java', 'node', 'ffmpeg']));
    expect(names.filter((name) => name === 'kamailio').length, 'kamailio forks its workers').toBeGreaterThan(1);

    owner.signal('SIGKILL');
    await owner.exited;
    const survivors = async () => (await Promise.all(descendants.map(async (pid, index) => ((await alive(pid)) ? [`${names[index]} ${pid}`] : [])))).flat();
    await waitFor(async () => (await survivors()).length === 0, 10_000, 'the peers to exit').catch(async () => {
      throw new Error(`still running 10 s after their owner died: ${(await survivors()).join(', ')}`);
    });
  });
});
