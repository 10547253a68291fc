/**
 * How fast a call starts, with and without standby tasks, in the same run: calls POSTed at `startsPerSecond` to
 * the local server with STANDBY_TASKS=n (the pool full before the first POST), against a sipp UAS. Per row:
 * POST → INVITE (sipp's receive time), split where the task logs that it has the call (its RTP relays and the
 * INVITE follow), and the server's CPU per call set up. `runSetUpBench` is the section the project bench calls.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalServer } from '../support/local-server.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { processTree, sampleProcess, type ProcessSample } from '../support/proc-stats.ts';
import { SippPeer } from '../support/sipp.ts';

export interface SetUpRow {
  calls: number;
  standbyTasks: number;
  /** Calls that got a standby task (the rest launched one). */
  onStandby: number;
  /** Until the task logs that it has the call: the claim or the launch, and the task's start. */
  postToTask: [p50: number, p95: number];
  postToInvite: [p50: number, p95: number];
  serverCpuMsPerCall: number;
  /** What one idle standby task (node and its two relays) holds while it waits; NaN without a pool. */
  standbyRssMiB: number;
  standbyPssMiB: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * POSTs one audio-only call per callId to `server`, at `startsPerSecond`, each under the load of those before it.
 * Resolves to when each was POSTed; throws with the server's last complaints when one is refused.
 */
export async function postCalls(
  server: LocalServer,
  callIds: string[],
  target: { startsPerSecond: number; sipPort: number; rtmpUrl: string; record?: boolean },
): Promise<Map<string, number>> {
  const postedAt = new Map<string, number>();
  await Promise.all(
    callIds.map(async (callId, index) => {
      await sleep((index * 1000) / target.startsPerSecond);
      postedAt.set(callId, Date.now());
      const answer = await server.request('POST', '/v1/calls', {
        callId,
        callee: callId,
        rtmpUrl: target.rtmpUrl,
        rtmpStream: callId,
        hasAudio: true,
        hasVideo: false,
        ...(target.record ? { record: true } : {}),
        connection: { sipLogin: '10000', sipPassword: 'bench-secret', sipDomain: '127.0.0.1', sipPort: target.sipPort },
      });
      if (answer.status >= 300) {
        const complaints = server.logLines.filter((line) => /"level":"(error|warn)"/.test(line)).slice(-3);
        throw new Error(`POST ${callId}: ${answer.status} ${answer.text}\n${complaints.join('\n')}`);
      }
    }),
  );
  return postedAt;
}

export async function measureSetUp(options: {
  calls: number;
  standbyTasks: number;
  startsPerSecond: number;
  dir: string;
  nginx: NginxRtmp;
}): Promise<SetUpRow> {
  const { calls, standbyTasks, startsPerSecond, dir, nginx } = options;
  const peer = await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, calls, timeoutSeconds: 600 });
  const server = await LocalServer.start(await mkdtemp(join(dir, 'data-')), {
    LOG_LEVEL: 'info',
    STANDBY_TASKS: String(standbyTasks),
  });
  try {
    if (standbyTasks > 0) {
      await waitFor(
        async () => (await server.metrics())('gateway_standby_tasks{state="idle"}') === standbyTasks,
        60_000,
        'the standby pool to fill',
      );
    }
    // The pool's tasks have started; what follows is the calls' own set-up.
    await sleep(1_000);
    // The waiting tasks and their relays, not the server's other helpers (esbuild's service).
    const [, ...descendants] = await processTree(server.process.pid!);
    const commands = await Promise.all(
      descendants.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')),
    );
    const waiting = descendants.filter((_pid, index) => commands[index]!.includes('/media-task/'));
    const samples = (await Promise.all(waiting.map(sampleProcess))).filter((sample) => sample !== undefined);
    const perStandby = (pick: (sample: ProcessSample) => number) =>
      standbyTasks > 0 ? samples.reduce((sum, sample) => sum + pick(sample), 0) / standbyTasks : NaN;
    const cpuBefore = (await sampleProcess(server.process.pid!))?.cpuSeconds ?? NaN;
    const tag = `setup${standbyTasks}s${calls}c${Date.now() % 100_000}`;
    const callIds = Array.from({ length: calls }, (_, index) => `${tag}x${index}`);
    const postedAt = await postCalls(server, callIds, { startsPerSecond, sipPort: peer.port, rtmpUrl: nginx.url });
    const views: any[] = [];
    for (const callId of callIds) views.push(await server.waitForCall(callId, (c) => c.state === 'streaming', 180_000));
    const cpuMs = (((await sampleProcess(server.process.pid!))?.cpuSeconds ?? NaN) - cpuBefore) * 1000;
    const invites = await peer.receivedTimed('INVITE ');
    const postToInvite = callIds.map((callId) => {
      const invite = invites.find(({ message }) => message.startsWith(`INVITE sip:${callId}@`));
      return invite ? invite.at - postedAt.get(callId)! : NaN;
    });
    // The task's own log line, with its time: from here on the call is the task's (relays, then the INVITE).
    const takenAt = new Map(
      server.logLines.flatMap((line) => {
        const match = /"time":"([^"]+)","level":"info","message":"task has its call".*"callId":"([^"]+)"/.exec(line);
        return match ? [[match[2]!, Date.parse(match[1]!)] as const] : [];
      }),
    );
    const postToTask = callIds.map((callId) => (takenAt.get(callId) ?? NaN) - postedAt.get(callId)!);
    const onStandby = server.logLines.filter((line) => line.includes('call started on a standby task')).length;
    await Promise.all(callIds.map((callId) => server.request('DELETE', `/v1/calls/${callId}`)));
    for (const callId of callIds)
      await server.waitForCall(callId, (c) => c.state === 'ended' || c.state === 'failed', 60_000);
    return {
      calls,
      standbyTasks,
      onStandby,
      postToTask: [percentile(postToTask, 50), percentile(postToTask, 95)],
      postToInvite: [percentile(postToInvite, 50), percentile(postToInvite, 95)],
      serverCpuMsPerCall: cpuMs / calls,
      standbyRssMiB: perStandby((sample) => sample.rssMiB),
      standbyPssMiB: perStandby((sample) => sample.pssMiB),
    };
  } finally {
    await server.stop();
    await peer.close();
  }
}

/** Each call count without and with standby tasks, one row each. */
export async function runSetUpBench(
  rows: Array<{ calls: number; standbyTasks: number }>,
  dir: string,
  nginx: NginxRtmp,
  startsPerSecond: number,
): Promise<SetUpRow[]> {
  const results: SetUpRow[] = [];
  for (const row of rows) results.push(await measureSetUp({ ...row, startsPerSecond, dir, nginx }));
  return results;
}
