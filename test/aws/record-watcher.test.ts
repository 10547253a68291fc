/**
 * Live control of an AWS task through the call's item: DTMF queued by the API's launcher, hang-up by `desired`.
 * Mailbox and store run together on dynalite, because they share the item.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbCallStore } from '../../shared/aws/dynamodb-call-store.ts';
import { DynamoDbCommandMailbox, MAX_QUEUED_COMMANDS } from '../../shared/aws/dynamodb-command-mailbox.ts';
import { CallNotFoundError, LaunchError } from '../../shared/call-errors.ts';
import { newCallRecord } from '../../functions/core/call-record.ts';
import type { CallSpec, TaskCommand } from '../../shared/call-types.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { RecordWatcher } from '../../media-task/aws/record-watcher.ts';
import { silentLogger } from '../../shared/log.ts';
import { startDynalite, type DynamoDbServer } from '../support/dynamodb.ts';

let server: DynamoDbServer;
let store: DynamoDbCallStore;
let mailbox: DynamoDbCommandMailbox;

beforeAll(async () => {
  server = await startDynalite();
  store = new DynamoDbCallStore({ client: server.client(), tableName: 'calls' });
  await store.ensureTable();
  mailbox = new DynamoDbCommandMailbox({ client: server.client(), tableName: 'calls' });
});
afterAll(() => server.close());

const at = '2026-11-23T18:00:00.000Z';
async function createCall(callId: string) {
  const spec: CallSpec = {
    callId,
    callee: '10001',
    rtmpUrl: 'rtmp://203.0.113.10/live',
    rtmpStream: callId,
    hasAudio: true,
    hasVideo: false,
    maxDurationSeconds: 600,
    rtpTimeoutSeconds: 30,
    connection: {
      sipLogin: '1',
      sipPassword: 'x',
      sipAuthenticationName: '1',
      sipDomain: 'sip.example.net',
      sipPort: 5060,
      sipRegisterRequired: false,
      transport: 'udp',
    },
  };
  const { record, secret } = newCallRecord(spec, at);
  await store.create(record, secret);
}

function recordingCall() {
  const seen: (TaskCommand | 'hangup')[] = [];
  return {
    seen,
    call: { hangup: () => void seen.push('hangup'), command: (command: TaskCommand) => void seen.push(command) },
  };
}

describe('DynamoDbCommandMailbox', () => {
  it('appends commands in order and survives the record updates of the recorder', async () => {
    await createCall('mb-1');
    await mailbox.push('mb-1', { type: 'dtmf', digits: '1' });
    await recordEvent(store, { type: 'answered', callId: 'mb-1', seq: 1, at });
    await mailbox.push('mb-1', { type: 'dtmf', digits: '2#', method: 'info' });
    await recordEvent(store, { type: 'streaming', callId: 'mb-1', seq: 2, at });
    expect(await mailbox.read('mb-1')).toEqual([
      { type: 'dtmf', digits: '1' },
      { type: 'dtmf', digits: '2#', method: 'info' },
    ]);
    expect(Object.keys((await store.get('mb-1'))!)).not.toContain('commands');
    expect(JSON.stringify(await store.list({ live: true }))).not.toContain('2#');
  });

  it('refuses a command for an unknown call without creating an item', async () => {
    await expect(mailbox.push('ghost', { type: 'dtmf', digits: '1' })).rejects.toThrow(CallNotFoundError);
    expect(await mailbox.read('ghost')).toEqual([]);
  });

  it(`bounds the queue at ${MAX_QUEUED_COMMANDS} commands`, async () => {
    await createCall('mb-full');
    await Promise.all(
      Array.from({ length: MAX_QUEUED_COMMANDS }, () => mailbox.push('mb-full', { type: 'dtmf', digits: '5' })),
    );
    await expect(mailbox.push('mb-full', { type: 'dtmf', digits: '6' })).rejects.toThrow(LaunchError);
    expect(await mailbox.read('mb-full')).toHaveLength(MAX_QUEUED_COMMANDS);
  });
});

describe('RecordWatcher', () => {
  it('runs each queued command once, and hangs up once when desired becomes ended', async () => {
    await createCall('w-1');
    const { seen, call } = recordingCall();
    const watcher = new RecordWatcher({ callId: 'w-1', store, mailbox, call, logger: silentLogger });
    await watcher.poll();
    expect(seen).toEqual([]);
    await mailbox.push('w-1', { type: 'dtmf', digits: '12' });
    await watcher.poll();
    await watcher.poll();
    expect(seen).toEqual([{ type: 'dtmf', digits: '12' }]);
    await recordEvent(store, { type: 'hangup-requested', callId: 'w-1', at });
    await mailbox.push('w-1', { type: 'dtmf', digits: '3' });
    await watcher.poll();
    await watcher.poll();
    expect(seen).toEqual([{ type: 'dtmf', digits: '12' }, { type: 'dtmf', digits: '3' }, 'hangup']);
  });

  it('logs and skips a queued command that is not a task command, and runs the ones after it', async () => {
    await createCall('w-bad');
    const { seen, call } = recordingCall();
    const errors: unknown[] = [];
    const logger = {
      ...silentLogger,
      error: (message: string, fields?: Record<string, unknown>) => void errors.push({ message, ...fields }),
    };
    // Written past the launcher's types, as another writer of the item might.
    await mailbox.push('w-bad', { type: 'reboot' } as unknown as TaskCommand);
    await mailbox.push('w-bad', { type: 'dtmf', digits: '9' });
    await new RecordWatcher({ callId: 'w-bad', store, mailbox, call, logger }).poll();
    expect(seen).toEqual([{ type: 'dtmf', digits: '9' }]);
    expect(errors).toEqual([{ message: 'invalid task command ignored', problem: expect.stringMatching(/^type: /) }]);
  });

  it('hangs up when someone else finalized the call (reconciler) or the record is gone', async () => {
    await createCall('w-2');
    await recordEvent(store, { type: 'task-crashed', callId: 'w-2', at, message: 'x' });
    const finalized = recordingCall();
    await new RecordWatcher({ callId: 'w-2', store, mailbox, call: finalized.call, logger: silentLogger }).poll();
    expect(finalized.seen).toEqual(['hangup']);
    const gone = recordingCall();
    await new RecordWatcher({ callId: 'never-stored', store, mailbox, call: gone.call, logger: silentLogger }).poll();
    expect(gone.seen).toEqual(['hangup']);
  });

  it('polls every pollMs until stopped, and survives a failed read', async () => {
    vi.useFakeTimers();
    try {
      let reads = 0;
      const flaky = {
        get: async () => {
          reads++;
          if (reads === 2) throw new Error('throttled');
          return undefined;
        },
      };
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (message: string) => void warnings.push(message) };
      const { call } = recordingCall();
      const watcher = new RecordWatcher({
        callId: 'w-3',
        store: flaky,
        mailbox: { read: async () => [] },
        call,
        logger,
        pollMs: 2_000,
      });
      watcher.start();
      await vi.advanceTimersByTimeAsync(0);
      expect(reads).toBe(1);
      await vi.advanceTimersByTimeAsync(2_000);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(reads).toBe(3);
      expect(warnings).toEqual(['could not read the call record']);
      watcher.stop();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(reads).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
