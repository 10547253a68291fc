/**
 * The local launcher as the sweeper's TaskInspector (functions/local/local-task-launcher.ts), with a real child
 * process standing in for the media task: it prints its final event and exits. Until that event is recorded the
 * task still counts as running, so a sweep in between cannot find the call taskless and mark it crashed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateEvent } from '../../shared/call-types.ts';
import { LocalTaskLauncher } from '../../functions/local/local-task-launcher.ts';
import { silentLogger } from '../../shared/log.ts';
import { makeSpec } from './call-store.suite.ts';

let dir: string;
let entry: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'inspector-'));
  entry = join(dir, 'task.mjs');
  const spec = 'JSON.parse(process.env.CALL_SPEC)';
  await writeFile(
    entry,
    `const { callId } = ${spec};\nprocess.stdout.write(JSON.stringify({ type: 'ended', by: 'remote', reason: 'BYE', durationSeconds: 1, callId, seq: 3, at: new Date().toISOString() }) + '\\n');\n`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = makeSpec({ callId: 'c1' });

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('LocalTaskLauncher.inspect', () => {
  it('a task is running while it is a child whose events are not all recorded; then missing; other refs are missing', async () => {
    const events: StateEvent[] = [];
    let release!: () => void;
    const recorded = new Promise<void>((resolve) => (release = resolve));
    const crashes: string[] = [];
    const launcher = new LocalTaskLauncher({
      entry,
      logger: silentLogger,
      bindAddress: '127.0.0.1',
      publicAddress: '127.0.0.1',
      onEvent: async (event) => {
        events.push(event);
        await recorded;
      },
      onCrash: async (callId) => void crashes.push(callId),
    });
    const { taskRef } = await launcher.launch(spec);
    expect(taskRef).toMatch(/^local:\d+$/);
    await until(() => events.length === 1);
    const pid = Number(taskRef.slice('local:'.length));
    // The child has printed its final event; let it exit while the recording is still held.
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    // Reaped; give the launcher's exit watch time to run. (Only a regression could make the answer change in this
    // wait, so its length decides how surely one is caught, never whether a correct launcher passes.)
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(Object.fromEntries(await launcher.inspect([taskRef, 'local:1']))).toEqual({
      [taskRef]: { status: 'running' },
      'local:1': { status: 'missing' },
    });
    release();
    await until(() => launcher.liveTasks === 0);
    expect(Object.fromEntries(await launcher.inspect([taskRef]))).toEqual({ [taskRef]: { status: 'missing' } });
    expect(crashes).toEqual([]);
  });
});
