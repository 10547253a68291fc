/**
 * The recording beside the broadcast, from the media task as a process: a sipp UAS plays a 1 kHz PCMU tone, the
 * task publishes it to nginx-rtmp and records the same encode to `<RECORDING_DIR>/<recordingId>.mp4`. What the
 * file holds is checked with ffprobe and a tone measurement; so is what is left of it when the task is killed,
 * and a recording that fails mid-call (disk full) must leave the broadcast alone.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateEvent } from '../../shared/call-types.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { parseStateEvent } from '../../shared/task-messages.ts';
import { useCleanup } from '../support/cleanup.ts';
import { measureTone, probe } from '../support/media-check.ts';
import { makeToneWav, MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { LocalServer } from '../support/local-server.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';
import { isRunning, processTree } from '../support/proc-stats.ts';
import { SippPeer } from '../support/sipp.ts';

let dir: string;
let recordings: string;
let nginx: NginxRtmp;
const { owned, defer } = useCleanup();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recording-e2e-'));
  recordings = await mkdtemp(join(tmpdir(), 'recordings-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(recordings, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (from: StateEvent, to: StateEvent) => (Date.parse(to.at) - Date.parse(from.at)) / 1000;

/** A recorded tone call: sipp answering on its own port, the task told where to record. */
async function recordedCall(stream: string) {
  const peer = owned(
    await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, keys: {}, timeoutSeconds: 40 }),
  );
  const recordingId = randomUUID();
  const spec = testCallSpec({
    rtmpUrl: nginx.url,
    rtmpStream: stream,
    record: true,
    recordingId,
    connection: { sipPort: peer.port },
  });
  const task = owned(await MediaTaskProcess.start(spec, { [TASK_ENV.recordingDir]: recordings }));
  return { peer, task, file: join(recordings, `${recordingId}.mp4`), recordingId };
}

/** The recorder's pid: the task's ffmpeg that writes an .mp4. */
async function recorderPid(taskPid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  for (const pid of await processTree(taskPid)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (/ffmpeg\0/.test(cmdline) && cmdline.includes('.mp4\0')) return pid;
  }
  return undefined;
}

describe('recording a call beside its broadcast', () => {
  it('writes the AAC the broadcast carries, the call long and at 1 kHz, and reports it saved', async () => {
    const { task, file } = await recordedCall('rec1');
    const streaming = await task.waitForEvent('streaming');
    await sleep(5_000);
    task.terminate();
    const final = await task.final(15_000);
    expect(final).toMatchObject({ type: 'ended', by: 'local' });
    expect(await task.exited).toMatchObject({ code: 0 });

    const report = task.events.find((event) => event.type === 'recording');
    expect(report).toMatchObject({ type: 'recording', state: 'saved' });
    // The report comes after the final event: the call's outcome never waits for the file.
    expect(task.events.indexOf(report!)).toBeGreaterThan(task.events.indexOf(final));
    const probed = await probe(file);
    expect(probed.streams.map((stream) => stream.codec)).toEqual(['aac']);
    // The media of the call: from its first bytes on the RTMP server to its end.
    const mediaSeconds = seconds(streaming, final);
    expect(
      Math.abs(probed.durationSeconds - mediaSeconds),
      `${probed.durationSeconds} s vs ${mediaSeconds} s`,
    ).toBeLessThan(0.5);
    const tone = await measureTone(file);
    expect(tone.frequencyHz).toBeGreaterThan(950);
    expect(tone.frequencyHz).toBeLessThan(1050);
    expect(report!.type === 'recording' && report!.bytes).toBeGreaterThan(10_000);

    // The broadcast went on as before, from the same encode.
    const broadcast = await probe(await nginx.waitForRecording('rec1'));
    expect(broadcast.streams.map((stream) => stream.codec)).toEqual(['aac']);
    expect(Math.abs(broadcast.durationSeconds - probed.durationSeconds)).toBeLessThan(1);
    // Locally stdout is the server's event channel: state events only, no metrics lines.
    expect(task.events.every((event) => parseStateEvent(event).ok)).toBe(true);
  });

  it('leaves a playable file up to the moment the task is killed (SIGKILL)', async () => {
    const { task, file } = await recordedCall('rec2');
    await task.waitForEvent('streaming');
    await sleep(4_000);
    const recorder = await recorderPid(task.pid!);
    expect(recorder).toBeDefined();
    process.kill(task.pid!, 'SIGKILL');
    expect(await task.exited).toMatchObject({ signal: 'SIGKILL' });
    // Its ffmpeg dies with it (PR_SET_PDEATHSIG): nothing finishes the file, whose fragments are what is left.
    await waitFor(async () => !(await isRunning(recorder!)), 5_000, 'the recorder to die with the task');
    expect(task.events.some((event) => event.type === 'recording')).toBe(false);
    const probed = await probe(file);
    expect(probed.streams.map((stream) => stream.codec)).toEqual(['aac']);
    expect(probed.durationSeconds).toBeGreaterThan(2);
    const tone = await measureTone(file);
    expect(tone.frequencyHz).toBeGreaterThan(950);
    expect(tone.frequencyHz).toBeLessThan(1050);
  });

  it('keeps broadcasting when the recording fails mid-call (disk full), and reports the recording failed', async () => {
    const recordingId = randomUUID();
    // The file the recorder opens is /dev/full: every write fails with ENOSPC, as on a full disk.
    await symlink('/dev/full', join(recordings, `${recordingId}.mp4`));
    const peer = owned(
      await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, keys: {}, timeoutSeconds: 40 }),
    );
    const spec = testCallSpec({
      rtmpUrl: nginx.url,
      rtmpStream: 'rec3',
      record: true,
      recordingId,
      connection: { sipPort: peer.port },
    });
    const task = owned(await MediaTaskProcess.start(spec, { [TASK_ENV.recordingDir]: recordings }));
    await task.waitForEvent('streaming');
    await waitFor(
      () => task.logLines.some((line) => line.includes('"recording stopped; the broadcast goes on"')),
      10_000,
      'the recorder to fail',
    );
    await sleep(4_000);
    task.terminate();
    expect(await task.final(15_000)).toMatchObject({ type: 'ended', by: 'local' });
    expect(task.types()).toEqual(['dialing', 'ringing', 'answered', 'streaming', 'ended', 'recording']);
    const report = task.events.find((event) => event.type === 'recording');
    expect(report).toMatchObject({ state: 'failed', bytes: 0 });
    expect(report!.type === 'recording' && report!.error).toMatch(/space|error/i);
    const broadcast = await probe(await nginx.waitForRecording('rec3'));
    expect(broadcast.durationSeconds).toBeGreaterThan(4);
    expect((await peer.finished()).code).toBe(0);
  });
});

describe('recording through the local server', () => {
  it('records a WCS-shaped call asking record: "true" into DATA_DIR/recordings, served behind the API key', async () => {
    const dataDir = join(dir, 'server');
    const server = await LocalServer.start(dataDir, { API_KEY: 'k3y' });
    defer(() => server.stop());
    const api = (method: string, path: string, body?: unknown, key = 'k3y') =>
      fetch(server.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const peer = owned(
      await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, keys: {}, timeoutSeconds: 40 }),
    );
    const started = await api('POST', '/RESTCall/call', {
      callId: 'recorded-1',
      callee: '10000',
      rtmpUrl: nginx.url,
      rtmpStream: 'rec4',
      hasAudio: 'true',
      hasVideo: 'false',
      record: 'true',
      connection: { sipLogin: '10000', sipPassword: '', sipDomain: '127.0.0.1', sipPort: String(peer.port) },
    });
    expect(started.status).toBe(200);
    expect(await started.json()).toMatchObject({ callId: 'recorded-1', record: true });
    const waitForCall = async (predicate: (call: any) => boolean) => {
      let call: any;
      await waitFor(
        async () => predicate((call = await (await api('GET', '/v1/calls/recorded-1')).json())),
        20_000,
        'the call',
      );
      return call;
    };
    await waitForCall((call) => call.state === 'streaming');
    await sleep(4_000);
    expect((await api('DELETE', '/v1/calls/recorded-1')).status).toBe(202);
    const call = await waitForCall((call) => call.recording !== undefined);
    expect(call).toMatchObject({
      state: 'ended',
      recording: { state: 'saved', url: '/v1/calls/recorded-1/recording' },
    });

    // One file, named by the server, not by the callId the request chose.
    const names = await readdir(join(dataDir, 'recordings'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.mp4$/);
    expect((await api('GET', call.recording.url, undefined, 'wrong')).status).toBe(401);
    expect((await api('GET', '/v1/calls/unknown/recording')).status).toBe(404);
    const fetched = await api('GET', call.recording.url);
    expect(fetched.status).toBe(200);
    const bytes = Buffer.from(await fetched.arrayBuffer());
    expect(bytes.length).toBe(call.recording.bytes);
    const copy = join(dir, 'fetched.mp4');
    await writeFile(copy, bytes);
    const probed = await probe(copy);
    expect(probed.streams.map((stream) => stream.codec)).toEqual(['aac']);
    expect(probed.durationSeconds).toBeGreaterThan(3.5);
    expect((await measureTone(copy)).frequencyHz).toBeGreaterThan(950);
  });
});
