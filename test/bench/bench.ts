/**
 * `npm run bench [-- --seconds 20 --calls 1,10]`: CPU and memory per call of the gateway (media task + its
 * ffmpeg) against bare ffmpeg transcoding the same 1 kHz tone to the same nginx-rtmp, in the same run, and the
 * time from the peer's 200 OK to the first RTMP bytes. Prints a Markdown table; figures, not pass/fail.
 */
import { cpus, totalmem } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OwnedProcess } from '../../media-task/process/owned-process.ts';
import { probe } from '../support/media-check.ts';
import { makeToneWav, MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';
import { runCdnBench } from './cdn-bench.ts';
import { sampleProcess, sampleTree, type ProcessSample } from './proc-stats.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, calls: { type: 'string', default: '1,10' } } });
const SECONDS = Number(values.seconds);
const CALL_COUNTS = values.calls.split(',').map(Number);
const WARM_UP_MS = 3_000;

interface Figures {
  cpuPercentPerCall: number;
  rssMiBPerCall: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** CPU over a steady window (start-up excluded), RSS at its end, averaged per call. */
async function measure(sample: () => Promise<ProcessSample[]>): Promise<Figures> {
  await sleep(WARM_UP_MS);
  const before = await sample();
  await sleep(SECONDS * 1000);
  const after = await sample();
  const cpu = after.reduce((sum, s, index) => sum + s.cpuSeconds - (before[index]?.cpuSeconds ?? 0), 0);
  const rss = after.reduce((sum, s) => sum + s.rssMiB, 0);
  return { cpuPercentPerCall: (100 * cpu) / SECONDS / after.length, rssMiBPerCall: rss / after.length };
}

async function bareFfmpeg(calls: number, tone: string, nginx: NginxRtmp): Promise<Figures> {
  const encoders = await Promise.all(
    Array.from({ length: calls }, (_, index) =>
      OwnedProcess.start({
        name: `bare ffmpeg ${index}`,
        command: 'ffmpeg',
        args: ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', tone, '-c:a', 'aac', '-ar', '44100', '-b:a', '128k', '-f', 'flv', `${nginx.url}/bare${calls}-${index}`],
      }),
    ),
  );
  try {
    return await measure(async () => Promise.all(encoders.map(async (encoder) => (await sampleProcess(encoder.pid!)) ?? { cpuSeconds: 0, rssMiB: 0 })));
  } finally {
    await Promise.all(encoders.map((encoder) => encoder.close('SIGINT')));
  }
}

async function gateway(calls: number, dir: string, nginx: NginxRtmp) {
  const peer = await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, calls, timeoutSeconds: SECONDS + 120 });
  const tasks: MediaTaskProcess[] = [];
  try {
    for (let index = 0; index < calls; index++) {
      tasks.push(await MediaTaskProcess.start(testCallSpec({ rtmpUrl: nginx.url, rtmpStream: `gw${calls}-${index}`, connection: { sipPort: peer.port } }), { LOG_LEVEL: 'warn' }));
    }
    const firstMediaMs: number[] = [];
    for (const task of tasks) {
      const answered = await task.waitForEvent('answered', 60_000);
      const streaming = await task.waitForEvent('streaming', 60_000);
      firstMediaMs.push(Date.parse(streaming.at) - Date.parse(answered.at));
    }
    const figures = await measure(() => Promise.all(tasks.map((task) => sampleTree(task.pid!))));
    const nodeOnly = await Promise.all(tasks.map(async (task) => (await sampleProcess(task.pid!))?.rssMiB ?? 0));
    for (const task of tasks) task.terminate();
    await Promise.all(tasks.map((task) => task.final(30_000)));
    let verified = 0;
    for (let index = 0; index < calls; index++) {
      const recording = await nginx.waitForRecording(`gw${calls}-${index}`);
      if ((await probe(recording)).streams.some((stream) => stream.codec === 'aac')) verified++;
    }
    firstMediaMs.sort((a, b) => a - b);
    return { ...figures, nodeRssMiB: nodeOnly.reduce((a, b) => a + b, 0) / calls, verified, firstMediaP50: percentile(firstMediaMs, 50), firstMediaP95: percentile(firstMediaMs, 95) };
  } finally {
    await Promise.all(tasks.map((task) => task.close()));
    await peer.close();
  }
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'bench-'));
  const nginx = await NginxRtmp.start();
  try {
    const tone = await makeToneWav(join(dir, 'tone-1khz.wav'), { seconds: SECONDS + 60 });
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; window ${SECONDS} s after ${WARM_UP_MS / 1000} s warm-up\n`);
    console.log('| calls | streams verified | bare ffmpeg CPU %/call | gateway CPU %/call | CPU ratio | bare ffmpeg RSS MiB/call | gateway RSS MiB/call (node part) | 200 OK → first RTMP bytes p50 / p95 ms |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const calls of CALL_COUNTS) {
      const bare = await bareFfmpeg(calls, tone, nginx);
      const gw = await gateway(calls, dir, nginx);
      console.log(
        `| ${calls} | ${gw.verified}/${calls} | ${bare.cpuPercentPerCall.toFixed(2)} | ${gw.cpuPercentPerCall.toFixed(2)} | ${(gw.cpuPercentPerCall / bare.cpuPercentPerCall).toFixed(2)} | ` +
          `${bare.rssMiBPerCall.toFixed(1)} | ${gw.rssMiBPerCall.toFixed(1)} (${gw.nodeRssMiB.toFixed(1)}) | ${gw.firstMediaP50} / ${gw.firstMediaP95} |`,
      );
    }
  } finally {
    await nginx.stop();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nCPU per audio-only call by video mode and destinations (% of one core, ${SECONDS} s steady state each):\n`);
  console.log('| video | destinations | encoder | republishers | node (RTP) | total | kbit/s out |');
  console.log('|---|---|---|---|---|---|---|');
  for (const row of await runCdnBench(SECONDS)) {
    const cells = [row.mode, row.destinations, row.encoderPercent, row.republishersPercent, row.nodePercent, row.totalPercent, row.kbps];
    console.log(`| ${cells.map((cell) => (typeof cell === 'number' && !Number.isInteger(cell) ? cell.toFixed(2) : cell)).join(' | ')} |`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
