/**
 * `npm run bench [-- --seconds 20 --calls 1,10,50 --setup 1:0,1:2,50:0,50:2]`: N concurrent calls POSTed to the
 * local server (`npm start`) against a sipp UAS streaming a 1 kHz tone, published to nginx-rtmp, next to N bare ffmpeg transcoding the same
 * tone to the same nginx-rtmp in the same run: once from the file, once from the RTP that sipp would send (the
 * ffmpeg of a hand-rolled Asterisk script). Prints CPU and memory per call, the server's CPU per call set up,
 * POST → INVITE, 200 OK → first RTMP bytes, and whether every stream arrived, as a Markdown table; then the CPU a
 * recording adds to a call (`--recorded` calls with `record` and as many without, in the same run, one after the
 * other); then the start time with and without standby tasks (setup-bench.ts, `--setup calls:standbyTasks,...`);
 * figures, not pass/fail.
 */
import { cpus, totalmem } from 'node:os';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildInputSdp } from '../../media-task/pipeline/ffmpeg-args.ts';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { buildRtp } from '../support/rtp-packet.ts';
import { LocalServer } from '../support/local-server.ts';
import { probe } from '../support/media-check.ts';
import { freeRtpPort } from '../support/free-port.ts';
import { makeToneWav } from '../support/media-task.ts';
import { NginxRtmp } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';
import { pcmu, runCdnBench } from './cdn-bench.ts';
import { percentile, postCalls, runSetUpBench } from './setup-bench.ts';
import { processTree, sampleProcess, type ProcessSample } from '../support/proc-stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    calls: { type: 'string', default: '1,10' },
    recorded: { type: 'string', default: '10' },
    // calls:standby tasks, for the start-time table.
    setup: { type: 'string', default: '1:0,1:2,50:0,50:2,50:50' },
  },
});
const RECORDED_CALLS = Number(values.recorded);
const SECONDS = Number(values.seconds);
const CALL_COUNTS = values.calls.split(',').filter(Boolean).map(Number);
const SET_UP_ROWS = values.setup
  .split(',')
  .filter(Boolean)
  .map((pair) => {
    const [calls, standbyTasks] = pair.split(':').map(Number);
    return { calls: calls!, standbyTasks: standbyTasks ?? 0 };
  });
const WARM_UP_MS = 3_000;
const STARTS_PER_SECOND = 20;

interface Figures {
  cpuPercentPerCall: number;
  rssMiBPerCall: number;
  pssMiBPerCall: number;
  /** CPU % per call of each kind of process (media task node, encoder, republisher). */
  cpuPercentByRole: Record<string, number>;
}

type RoleSample = ProcessSample & { role: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU over a steady window (start-up excluded), memory at its end, averaged per call. */
async function measure(
  calls: number,
  roles: readonly string[],
  sample: () => Promise<Map<number, RoleSample>>,
): Promise<Figures> {
  await sleep(WARM_UP_MS);
  // Reading hundreds of /proc files takes seconds on a loaded machine: the window runs from the middle of one
  // pass to the middle of the other, not for the SECONDS slept in between.
  const timed = async () => {
    const start = performance.now();
    const samples = await sample();
    return { samples, at: (start + performance.now()) / 2 };
  };
  const { samples: before, at: from } = await timed();
  await sleep(SECONDS * 1000);
  const { samples: after, at: to } = await timed();
  const windowSeconds = (to - from) / 1000;
  const percentPerCall = (cpuSeconds: number) => (100 * cpuSeconds) / calls / windowSeconds;
  const cpuPercentByRole: Record<string, number> = {};
  let cpu = 0;
  for (const [pid, s] of after) {
    // A process that was not there at the start of the window (a restarted ffmpeg) counts from zero.
    const used = s.cpuSeconds - (before.get(pid)?.cpuSeconds ?? 0);
    cpu += used;
    cpuPercentByRole[s.role] = (cpuPercentByRole[s.role] ?? 0) + percentPerCall(used);
  }
  const samples = [...after.values()];
  const counts = (map: Map<number, RoleSample>) => {
    const byRole: Record<string, number> = {};
    for (const { role } of map.values()) byRole[role] = (byRole[role] ?? 0) + 1;
    return byRole;
  };
  // Per call only if every call's processes were found: say so when some were not.
  const found = counts(after);
  if (roles.some((role) => (found[role] ?? 0) < calls))
    console.error(
      `warning: ${calls} calls, processes found at the start ${JSON.stringify(counts(before))}, at the end ${JSON.stringify(found)}`,
    );
  return {
    cpuPercentPerCall: percentPerCall(cpu),
    rssMiBPerCall: samples.reduce((sum, s) => sum + s.rssMiB, 0) / calls,
    pssMiBPerCall: samples.reduce((sum, s) => sum + s.pssMiB, 0) / calls,
    cpuPercentByRole,
  };
}

/** Samples of the given processes by pid, those gone left out. */
async function samplePids(pids: Array<{ pid: number; role: string }>): Promise<Map<number, RoleSample>> {
  const samples = new Map<number, RoleSample>();
  await Promise.all(
    pids.map(async ({ pid, role }) => {
      const sample = await sampleProcess(pid);
      if (sample) samples.set(pid, { ...sample, role });
    }),
  );
  return samples;
}

/** The hand-rolled transcode: the defaults anyone would type, the input aside. */
const BARE_OUTPUT = ['-c:a', 'aac', '-ar', '44100', '-b:a', '128k', '-f', 'flv'];

/** N bare ffmpeg, each started with `inputArgs(index)`, measured like the gateway's processes. */
async function bareFfmpeg(
  calls: number,
  name: string,
  inputArgs: (index: number) => Promise<string[]>,
  nginx: NginxRtmp,
): Promise<Figures> {
  const starts = await Promise.allSettled(
    Array.from({ length: calls }, async (_, index) =>
      OwnedProcess.start({
        name: `bare ffmpeg ${name} ${index}`,
        command: 'ffmpeg',
        args: [
          '-hide_banner',
          '-nostdin',
          '-loglevel',
          'error',
          ...(await inputArgs(index)),
          ...BARE_OUTPUT,
          `${nginx.url}/bare-${name}${calls}-${index}`,
        ],
        diesWithOwner: true,
      }),
    ),
  );
  const encoders = starts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
  try {
    const refused = starts.find((start) => start.status === 'rejected');
    if (refused) throw refused.reason;
    return await measure(calls, ['ffmpeg'], () =>
      samplePids(encoders.map((encoder) => ({ pid: encoder.pid!, role: 'ffmpeg' }))),
    );
  } finally {
    await Promise.all(encoders.map((encoder) => encoder.close('SIGINT')));
    const arrived = await Promise.all(encoders.map((_, index) => arrivedAsAac(`bare-${name}${calls}-${index}`, nginx)));
    if (arrived.includes(false))
      console.error(
        `warning: ${arrived.filter((ok) => !ok).length} of ${calls} bare ffmpeg (${name}) streams did not arrive`,
      );
  }
}

async function arrivedAsAac(stream: string, nginx: NginxRtmp): Promise<boolean> {
  const recording = await nginx.waitForRecording(stream).catch(() => undefined);
  return recording !== undefined && (await probe(recording)).streams.some((codec) => codec.codec === 'aac');
}

const fromFile = (tone: string) => async () => ['-re', '-stream_loop', '-1', '-i', tone];

/**
 * Bare ffmpeg reading the tone as sipp sends it: 20 ms PCMU packets, paced by this process (not counted, as sipp
 * is not), to an SDP input on its own port.
 */
async function fromRtp(calls: number, tone: string, dir: string, nginx: NginxRtmp): Promise<Figures> {
  const wav = await readFile(tone);
  const samples = wav.subarray(wav.indexOf('data') + 8);
  /** Each ffmpeg's port once it is known, by its index (the SSRC it is sent). */
  const ports = new Map<number, number>();
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const started = performance.now();
  let sent = 0;
  const pace = setInterval(() => {
    const due = Math.floor((performance.now() - started) / 20);
    for (; sent < due; sent++) {
      const offset = (sent * 160) % (samples.length - 160);
      const payload = samples.subarray(offset, offset + 160);
      for (const [index, port] of ports.entries()) {
        socket.send(
          buildRtp({ marker: false, payloadType: 0, sequence: sent, timestamp: sent * 160, ssrc: index + 1 }, payload),
          port,
          '127.0.0.1',
        );
      }
    }
  }, 20);
  try {
    return await bareFfmpeg(
      calls,
      'rtp',
      async (index) => {
        const port = await freeRtpPort();
        const sdp = join(dir, `bare-${index}.sdp`);
        await writeFile(sdp, buildInputSdp({ audio: pcmu }, { audio: port }));
        ports.set(index, port);
        return ['-protocol_whitelist', 'file,udp,rtp', '-f', 'sdp', '-i', sdp];
      },
      nginx,
    );
  } finally {
    clearInterval(pace);
    socket.close();
  }
}

/** What a process under the server is to a call; undefined for the server's own helpers (esbuild's service). */
function roleOf(command: string): string | undefined {
  if (/media-task\/main\.mjs/.test(command)) return 'node';
  if (/^(\S*\/)?rtp-relay\0/.test(command)) return 'relay';
  if (!/^(\S*\/)?ffmpeg\0/.test(command)) return undefined;
  if (/\0-f\0sdp\0/.test(command)) return 'encoder';
  return /\0-movflags\0/.test(command) ? 'recorder' : 'republisher';
}

/** The media tasks under the server and their ffmpeg; the server and its helpers are not a call's cost. */
async function taskProcesses(server: LocalServer): Promise<Map<number, RoleSample>> {
  const [, ...descendants] = await processTree(server.process.pid!);
  const roles = await Promise.all(
    descendants.map(async (pid) => ({
      pid,
      role: roleOf(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')),
    })),
  );
  return samplePids(roles.filter((entry): entry is { pid: number; role: string } => entry.role !== undefined));
}

/** One listing a second instead of one poll per call: a hundred pollers would be load of their own. */
async function waitForCalls(
  server: LocalServer,
  callIds: string[],
  done: (call: any) => boolean,
  timeoutMs: number,
): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { calls } = (await server.request('GET', '/v1/calls')).json as { calls: any[] };
    const mine = callIds.map((callId) => calls.find((call) => call.callId === callId));
    if (mine.every((call) => call && done(call))) return mine;
    if (Date.now() > deadline)
      throw new Error(`${mine.filter((call) => !call || !done(call)).length} calls not there after ${timeoutMs} ms`);
    await sleep(1000);
  }
}

async function gateway(calls: number, dir: string, nginx: NginxRtmp, record = false) {
  // sipp's own deadline ends every call it still has: at 100 calls dialling alone took 100 s at p95, and a
  // deadline of 195 s ended the calls inside the measured window.
  const peer = await SippPeer.start({
    scenario: 'uas-tone.xml',
    media: true,
    cwd: dir,
    calls,
    timeoutSeconds: SECONDS + 900,
  });
  // info: the server says it listens at that level; the tasks log no more than a few lines a call at it.
  // No standby tasks: idle ones would count as calls' processes; the start-time table measures them.
  const server = await LocalServer.start(await mkdtemp(join(dir, 'data-')), { LOG_LEVEL: 'info', STANDBY_TASKS: '0' });
  const callIds = Array.from({ length: calls }, (_, index) => `bench${record ? 'rec' : ''}${calls}x${index}`);
  const serverCpuSeconds = async () => (await sampleProcess(server.process.pid!))?.cpuSeconds ?? NaN;
  try {
    const serverBefore = await serverCpuSeconds();
    // Started at STARTS_PER_SECOND, each POST under the load of the calls already running. All at once, 100 node
    // start-ups (~0.2 s of CPU each) would measure this machine's fork rate, not a call's set-up.
    const postedAt = await postCalls(server, callIds, {
      startsPerSecond: STARTS_PER_SECOND,
      sipPort: peer.port,
      rtmpUrl: nginx.url,
      record,
    });
    // An overloaded machine still sets every call up, slowly: at 100 calls some took over 120 s.
    const views = await waitForCalls(
      server,
      callIds,
      (call) => call.state === 'streaming' || call.state === 'ended' || call.state === 'failed',
      Math.max(120_000, calls * 3_000),
    );
    const failed = views.filter((view) => view.state !== 'streaming');
    if (failed.length) throw new Error(`${failed.length} calls did not stream: ${JSON.stringify(failed[0])}`);
    // The server's own CPU from before the first POST until every call streams: validation, the store's round
    // trips, the spawns, the events. It includes this script's one listing a second.
    const serverSetUpMs = (((await serverCpuSeconds()) - serverBefore) * 1000) / calls;
    const firstMediaMs = views.map(
      (view) => Date.parse(view.stateTimes.streaming) - Date.parse(view.stateTimes.answered),
    );
    const invites = await peer.receivedTimed('INVITE ');
    const postToInviteMs = callIds.map((callId) => {
      const invite = invites.find(({ message }) => message.startsWith(`INVITE sip:${callId}@`));
      return invite ? invite.at - postedAt.get(callId)! : NaN;
    });
    const roles = ['node', 'relay', 'encoder', ...(record ? ['republisher', 'recorder'] : [])];
    const figures = await measure(calls, roles, () => taskProcesses(server));
    const live = await waitForCalls(server, callIds, () => true, 10_000);
    const ended = live.filter((call) => call.state !== 'streaming');
    if (ended.length)
      console.error(
        `warning: ${ended.length} of ${calls} calls were no longer streaming at the end of the window: ${JSON.stringify(ended[0])}`,
      );
    await Promise.all(callIds.map((callId) => server.request('DELETE', `/v1/calls/${callId}`)));
    await waitForCalls(server, callIds, (call) => call.state === 'ended' || call.state === 'failed', 60_000);
    let verified = 0;
    for (const callId of callIds) if (await arrivedAsAac(callId, nginx)) verified++;
    return {
      ...figures,
      verified,
      serverSetUpMs,
      postToInvite: [percentile(postToInviteMs, 50), percentile(postToInviteMs, 95)],
      firstMedia: [percentile(firstMediaMs, 50), percentile(firstMediaMs, 95)],
    };
  } finally {
    await server.stop();
    await peer.close();
  }
}

/**
 * What `record` costs a call: the same audio-only calls without and with it, one run after the other. A recorded
 * call's encoder feeds a republisher and the recorder over local UDP instead of publishing itself.
 */
async function recordingCost(calls: number, dir: string, nginx: NginxRtmp): Promise<void> {
  const plain = await gateway(calls, dir, nginx);
  const recorded = await gateway(calls, dir, nginx, true);
  const roles = ['node', 'relay', 'encoder', 'republisher', 'recorder'];
  const byRole = (figures: Figures) =>
    roles.map((role) => (figures.cpuPercentByRole[role] ?? 0).toFixed(2)).join(' / ');
  console.log(`\nRecording: ${calls} audio-only calls without, then with \`record\` (% of one core per call):\n`);
  console.log(
    `| record | streams verified | CPU %/call | ${roles.join(' / ')} | RSS / PSS MiB/call | CPU ratio with / without |`,
  );
  console.log('|---|---|---|---|---|---|');
  for (const [name, figures] of [
    ['no', plain],
    ['yes', recorded],
  ] as const) {
    const cells = [
      name,
      `${figures.verified}/${calls}`,
      figures.cpuPercentPerCall.toFixed(2),
      byRole(figures),
      `${figures.rssMiBPerCall.toFixed(1)} / ${figures.pssMiBPerCall.toFixed(1)}`,
      name === 'yes' ? (recorded.cpuPercentPerCall / plain.cpuPercentPerCall).toFixed(2) : '',
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'bench-'));
  const nginx = await NginxRtmp.start();
  try {
    const tone = await makeToneWav(join(dir, 'tone-1khz.wav'), { seconds: SECONDS + 120 });
    console.log(
      `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; window ${SECONDS} s after ${WARM_UP_MS / 1000} s warm-up\n`,
    );
    console.log(
      '| calls | streams verified | bare ffmpeg CPU %/call, file / RTP in | gateway CPU %/call | node / relays / encoder / republisher | CPU ratio to file / RTP in | bare ffmpeg RSS / PSS MiB/call | gateway RSS / PSS MiB/call | server CPU ms per call set up | POST → INVITE p50 / p95 ms | 200 OK → first RTMP bytes p50 / p95 ms |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const calls of CALL_COUNTS) {
      const bare = await bareFfmpeg(calls, 'file', fromFile(tone), nginx);
      const bareRtp = await fromRtp(calls, tone, dir, nginx);
      const gw = await gateway(calls, dir, nginx);
      const cells = [
        calls,
        `${gw.verified}/${calls}`,
        `${bare.cpuPercentPerCall.toFixed(2)} / ${bareRtp.cpuPercentPerCall.toFixed(2)}`,
        gw.cpuPercentPerCall.toFixed(2),
        ['node', 'relay', 'encoder', 'republisher']
          .map((role) => (gw.cpuPercentByRole[role] ?? 0).toFixed(2))
          .join(' / '),
        `${(gw.cpuPercentPerCall / bare.cpuPercentPerCall).toFixed(2)} / ${(gw.cpuPercentPerCall / bareRtp.cpuPercentPerCall).toFixed(2)}`,
        `${bare.rssMiBPerCall.toFixed(1)} / ${bare.pssMiBPerCall.toFixed(1)}`,
        `${gw.rssMiBPerCall.toFixed(1)} / ${gw.pssMiBPerCall.toFixed(1)}`,
        gw.serverSetUpMs.toFixed(0),
        gw.postToInvite.join(' / '),
        gw.firstMedia.join(' / '),
      ];
      console.log(`| ${cells.join(' | ')} |`);
    }
    if (RECORDED_CALLS > 0) await recordingCost(RECORDED_CALLS, dir, nginx);
    console.log(
      `\nStart time, calls POSTed at ${STARTS_PER_SECOND}/s, with and without standby tasks (the pool full before the first POST):\n`,
    );
    console.log(
      '| calls | standby tasks | calls that got one | POST → task has the call p50 / p95 ms | POST → INVITE p50 / p95 ms | server CPU ms per call | one idle standby task RSS / PSS MiB |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const row of await runSetUpBench(SET_UP_ROWS, dir, nginx, STARTS_PER_SECOND)) {
      const cells = [
        row.calls,
        row.standbyTasks,
        row.onStandby,
        row.postToTask.join(' / '),
        row.postToInvite.join(' / '),
        row.serverCpuMsPerCall.toFixed(0),
        row.standbyTasks > 0 ? `${row.standbyRssMiB.toFixed(1)} / ${row.standbyPssMiB.toFixed(1)}` : '—',
      ];
      console.log(`| ${cells.join(' | ')} |`);
    }
    console.log(
      `\nCPU per audio-only call by video mode and destinations (% of one core, ${SECONDS} s steady state each):\n`,
    );
    console.log('| video | destinations | encoder | republishers | relay + node (RTP) | total | kbit/s out |');
    console.log('|---|---|---|---|---|---|---|');
    for (const row of await runCdnBench(tone, SECONDS)) {
      const cells = [
        row.mode,
        row.destinations,
        row.encoderPercent,
        row.republishersPercent,
        row.rtpPercent,
        row.totalPercent,
        row.kbps,
      ];
      console.log(
        `| ${cells.map((cell) => (typeof cell === 'number' && !Number.isInteger(cell) ? cell.toFixed(2) : cell)).join(' | ')} |`,
      );
    }
  } finally {
    await nginx.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
