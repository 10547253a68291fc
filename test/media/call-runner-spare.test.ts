/**
 * The spare encoder (pipeline/spare-encoder.ts) of a call that is never answered, with the call runner in this
 * process: the task's exit would take the spare with it (pdeathsig), which is exactly what hides a runner that
 * forgot it. Here the owner lives on, so a spare still running after the call is the runner's leak.
 */
import { describe, expect, it } from 'vitest';
import { CallRunner } from '../../media-task/call-runner.ts';
import { silentLogger } from '../../shared/log.ts';
import { useCleanup } from '../support/cleanup.ts';
import { testCallSpec } from '../support/media-task.ts';
import { relayPath, taskFfmpegPath } from '../support/media-task-bundle.ts';
import { encoderPids } from '../support/proc-stats.ts';
import { SippPeer } from '../support/sipp.ts';

const { owned, defer } = useCleanup();

describe('call runner and its spare encoder', () => {
  it('reaps the spare itself when the callee never answers', async () => {
    const peer = owned(await SippPeer.start({ scenario: 'ring-no-answer.xml' }));
    let rang!: () => void;
    const ringing = new Promise<void>((resolve) => (rang = resolve));
    const runner = new CallRunner({
      spec: testCallSpec({ connection: { sipPort: peer.port } }),
      bindAddress: '127.0.0.1',
      publicAddress: '127.0.0.1',
      relayPath: await relayPath(),
      ffmpegPath: await taskFfmpegPath(),
      inviteTimeoutMs: 1_500,
      logger: silentLogger,
      report: async (event) => {
        if (event.type === 'ringing') rang();
      },
    });
    defer(async () => {
      runner.hangup();
      await runner.done;
    });
    await runner.start();
    await ringing;
    expect(await encoderPids(process.pid)).toHaveLength(1);
    expect(await runner.done).toMatchObject({ type: 'failed', reason: 'timeout' });
    expect(await encoderPids(process.pid)).toEqual([]);
  });
});
