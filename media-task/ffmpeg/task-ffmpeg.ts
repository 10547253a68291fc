/**
 * The media task's ffmpeg (build.sh) for local runs: built once per version of the build script and kept in
 * node_modules/.cache, since a build takes ~1.5 min of both cores. The Dockerfile builds it in a stage of its own.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const BUILD_SCRIPT = fileURLToPath(new URL('./build.sh', import.meta.url));
const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/sip-rtmp-gateway', import.meta.url));

/** Path of the built ffmpeg, building it first when this build script has not been built yet; `onBuild` hears of a build. */
export async function ensureTaskFfmpeg(onBuild?: (message: string) => void): Promise<string> {
  const key = createHash('sha256').update(await readFile(BUILD_SCRIPT)).digest('hex').slice(0, 16);
  // Named ffmpeg, so that it is `ffmpeg` in the process list like any other.
  const path = join(CACHE_DIR, `ffmpeg-${key}`, 'ffmpeg');
  if (await stat(path).then((s) => s.isFile(), () => false)) return path;
  onBuild?.("building the media task's ffmpeg from Debian's source (once; ~1.5 min on 2 cores)");
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
