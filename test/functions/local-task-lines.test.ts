/**
 * What the local launcher (functions/local/local-task-launcher.ts) does with a task's stdout: each line is parsed
 * with the shared state event schema (shared/task-messages.ts). A line that is not JSON, not a state event, or an
 * event with a wrong field is logged as an error and dropped; the events around it are recorded in order and
 * nothing crashes. A real child process stands in for the media task.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalTaskLauncher } from '../../functions/local/local-task-launcher.ts';
import { makeSpec } from './call-store.suite.ts';
import type { StateEvent } from '../../shared/call-types.ts';

const garbage = [
  'not json at all',
  '{"half": ',
  'null',
  '[1, 2]',
  JSON.stringify({ type: 'reboot', callId: 'c-lines', seq: 2, at: '2026-01-01T00:00:00Z' }),
  JSON.stringify({ type: 'ringing', callId: 'c-lines', seq: -1, at: '2026-01-01T00:00:00Z' }),
  JSON.stringify({
    type: 'failed',
    reason: 'gremlins',
    message: 'x',
    callId: 'c-lines',
    seq: 2,
    at: '2026-01-01T00:00:00Z',
  }),
  JSON.stringify({ type: 'ringing', callId: 'c-lines', seq: 2, at: 'yesterday' }),
];

let dir: string;
let entry: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'task-lines-'));
  entry = join(dir, 'task.mjs');
  await writeFile(
    entry,
    `const { callId } = JSON.parse(process.env.CALL_SPEC);
const at = new Date().toISOString();
const lines = [
  JSON.stringify({ type: 'dialing', callId, seq: 1, at }),
  ...${JSON.stringify(garbage)},
  JSON.stringify({ type: 'ended', by: 'remote', reason: 'BYE', durationSeconds: 1, callId, seq: 2, at }),
];
process.stdout.write(lines.join('\\n') + '\\n');
`,
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = makeSpec({ callId: 'c-lines' });

describe('LocalTaskLauncher reading a task stdout', () => {
  it('logs and drops lines that are not state events, records the events around them in order, no crash', async () => {
    const events: StateEvent[] = [];
    const crashes: string[] = [];
    const errors: { message: string; fields?: Record<string, unknown> }[] = [];
    const launcher = new LocalTaskLauncher({
      entry,
      logger: { info: () => {}, warn: () => {}, error: (message, fields) => void errors.push({ message, fields }) },
      bindAddress: '127.0.0.1',
      publicAddress: '127.0.0.1',
      onEvent: async (event) => void events.push(event),
      onCrash: async (callId) => void crashes.push(callId),
    });
    await launcher.launch(spec);
    const deadline = Date.now() + 10_000;
    while (launcher.liveTasks > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(launcher.liveTasks).toBe(0);

    expect(events.map((event) => event.type)).toEqual(['dialing', 'ended']);
    expect(crashes).toEqual([]);
    expect(errors).toHaveLength(garbage.length);
    for (const [i, error] of errors.entries()) {
      expect(error.message).toBe('task printed a line that is not a state event; ignored');
      expect(error.fields).toMatchObject({ callId: spec.callId, line: garbage[i] });
      expect(error.fields?.problem).toEqual(expect.any(String));
    }
    expect(errors[0]?.fields?.problem).toBe('not JSON');
    expect(errors[4]?.fields?.problem).toMatch(/^type: /);
  });
});
