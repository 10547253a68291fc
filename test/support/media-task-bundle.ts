/**
 * The media task's bundle, with its relay and ffmpeg, built once for a whole test run (vitest globalSetup) or once per process (the
 * bench), so tests spawn exactly what the local launcher and the container run.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundleMediaTask } from '../../media-task/bundle.ts';
import { FFMPEG_FILE, RELAY_FILE } from '../../media-task/config.ts';

/** Set by the global setup; a process without it builds its own bundle. */
export const MEDIA_TASK_ENTRY_ENV = 'TEST_MEDIA_TASK_ENTRY';

let built: Promise<string> | undefined;

export function mediaTaskEntry(): Promise<string> {
  const entry = process.env[MEDIA_TASK_ENTRY_ENV];
  if (entry) return Promise.resolve(entry);
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'media-task-bundle-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return bundleMediaTask(dir);
  })();
  return built;
}

/** The RTP relay built with the bundle, for tests that run an RtpEndpoint in their own process. */
export async function relayPath(): Promise<string> {
  return join(dirname(await mediaTaskEntry()), RELAY_FILE);
}

/** The task's ffmpeg linked with the bundle (media-task/ffmpeg/build.sh), for tests that run a pipeline in their own process. */
export async function taskFfmpegPath(): Promise<string> {
  return join(dirname(await mediaTaskEntry()), FFMPEG_FILE);
}

/** vitest globalSetup: one build for every test file; the returned teardown removes it. */
export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'media-task-bundle-'));
  process.env[MEDIA_TASK_ENTRY_ENV] = await bundleMediaTask(dir);
  return () => rm(dir, { recursive: true, force: true });
}
