/**
 * Which ffmpeg the local media tasks run. The slim build (build.sh) when `npm run build:ffmpeg` made one:
 * it is kept in node_modules/.cache, once per version of the build script and its list, since a build takes
 * minutes of both cores. Otherwise FFMPEG_PATH's, or the one on the PATH, once checked for what the task uses
 * (ffmpeg-components.ts). The Dockerfile builds the slim one in a stage of its own.
 *
 *   tsx media-task/ffmpeg/task-ffmpeg.ts      (npm run build:ffmpeg: builds it, prints its path)
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, constants, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { missingComponents } from './ffmpeg-components.ts';

const BUILD_SCRIPT = fileURLToPath(new URL('./build.sh', import.meta.url));
const COMPONENTS = fileURLToPath(new URL('./components.txt', import.meta.url));
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/sip-rtmp-gateway', import.meta.url));

export class FfmpegUnfitError extends Error {
  override name = 'FfmpegUnfitError';
}

/** Where the build of this build script and list goes; named ffmpeg, so that it is `ffmpeg` in the process list like any other. */
async function buildPath(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [BUILD_SCRIPT, COMPONENTS]) hash.update(await readFile(file));
  return join(CACHE_DIR, `ffmpeg-${hash.digest('hex').slice(0, 16)}`, 'ffmpeg');
}

const isFile = (path: string) =>
  stat(path).then(
    (s) => s.isFile(),
    () => false,
  );

/** Path of the slim build, building it first when this build script has not been built yet; `onBuild` hears of a build. */
export async function ensureTaskFfmpeg(onBuild?: (message: string) => void): Promise<string> {
  const path = await buildPath();
  if (await isFile(path)) return path;
  onBuild?.("building the media task's ffmpeg from Debian's source (once)");
  await mkdir(join(path, '..'), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  try {
    await promisify(execFile)('sh', [BUILD_SCRIPT, partial], { maxBuffer: 1 << 20 });
    // rename is atomic: a concurrent build of the same script finds either no binary or a whole one.
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
  return path;
}

/** `ffmpeg` as the shell would find it on `PATH`. */
async function onPath(path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'ffmpeg');
    if (
      await access(candidate, constants.X_OK).then(
        () => isFile(candidate),
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

export interface ChosenFfmpeg {
  path: string;
  /** Where it came from, for the start-up log line. */
  source: 'FFMPEG_PATH' | 'slim build' | 'PATH';
}

/**
 * The ffmpeg for local tasks: `configured` (FFMPEG_PATH) if given, else the slim build if one was made, else
 * the PATH's. One not built here is checked first; rejects with FfmpegUnfitError naming what it lacks, or that
 * there is none.
 */
export async function chooseTaskFfmpeg(configured: string | undefined, path?: string): Promise<ChosenFfmpeg> {
  if (!configured) {
    const slim = await buildPath();
    if (await isFile(slim)) return { path: slim, source: 'slim build' };
  }
  const chosen = configured
    ? { path: configured, source: 'FFMPEG_PATH' as const }
    : await onPath(path).then((found) => found && { path: found, source: 'PATH' as const });
  if (!chosen)
    throw new FfmpegUnfitError(
      'no ffmpeg found: install one (apt install ffmpeg, brew install ffmpeg), set FFMPEG_PATH, or run npm run build:ffmpeg',
    );
  const missing = await missingComponents(chosen.path).catch((error: unknown) => {
    throw new FfmpegUnfitError(
      `${chosen.source === 'PATH' ? 'the ffmpeg on the PATH' : 'FFMPEG_PATH'} (${chosen.path}) does not run: ${(error as Error).message}`,
    );
  });
  if (missing.length) {
    throw new FfmpegUnfitError(
      `${chosen.path} lacks what the media task uses: ${missing.join(', ')} (install a full ffmpeg, or run npm run build:ffmpeg)`,
    );
  }
  return chosen;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await ensureTaskFfmpeg((message) => console.error(message)));
}
