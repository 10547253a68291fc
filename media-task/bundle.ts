/**
 * The media task as plain ES modules (esbuild): what the container runs and what the local launcher spawns, so
 * both run the same artefact. Against `node --import tsx` it halves a task's memory (tsx keeps a compiler and
 * its caches in every process) and its start-up CPU, which is what ten calls starting at once compete for.
 * The AWS mode is a chunk of its own: a local task never loads the SDK. The RTP relay (relay/rtp-relay.c) is
 * compiled next to it, where the task looks for it, and the tasks' ffmpeg is linked there.
 *
 *   tsx media-task/bundle.ts <outdir>     (the Dockerfile's build step: the JavaScript only, which is the same
 *                                          on every platform; the image builds the relay and ffmpeg for its own)
 */
import { execFile } from 'node:child_process';
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, stop, type Plugin } from 'esbuild';
import { FFMPEG_FILE, RELAY_FILE } from './config.ts';
import { ensureTaskFfmpeg } from './ffmpeg/task-ffmpeg.ts';

const ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));
const BUILD_RELAY = fileURLToPath(new URL('./relay/build.sh', import.meta.url));

/**
 * The bundle, the relay and an ffmpeg, as the local launcher runs them, into `outdir`; resolves to the entry
 * module's path. `ffmpegPath` is the tasks' ffmpeg (task-ffmpeg.ts chooseTaskFfmpeg); without it, the slim
 * build, built first if need be, as the image has it.
 */
export async function bundleMediaTask(outdir: string, ffmpegPath?: string): Promise<string> {
  const entry = await bundleScripts(outdir);
  await promisify(execFile)('sh', [BUILD_RELAY, join(outdir, RELAY_FILE)]);
  await symlink(ffmpegPath ?? (await ensureTaskFfmpeg()), join(outdir, FFMPEG_FILE));
  return entry;
}

/**
 * `sip` requires `ws` for a WebSocket transport we never open (sip-stack.ts brings its own transports), and
 * `ws` loads http and https: 6–12 ms of CPU and 1 MB in every task's start. The package checks for a missing
 * `ws` before it would use it.
 */
const withoutWebSocket: Plugin = {
  name: 'without-websocket',
  setup(build) {
    build.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', namespace: 'left-out' }));
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({
      contents: 'module.exports = undefined;',
      loader: 'js',
    }));
  },
};

/** Builds the JavaScript into `outdir` (emptied first); resolves to the entry module's path. */
async function bundleScripts(outdir: string): Promise<string> {
  await rm(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { main: ENTRY },
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outdir,
    outExtension: { '.js': '.mjs' },
    // The `sip` package is CommonJS and requires Node's built-ins.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    plugins: [withoutWebSocket],
    logLevel: 'warning',
  });
  // esbuild keeps its service process (~160 MB resident) for the next build; the server builds once. A later
  // transform (tsx loading a module) starts it again.
  await stop();
  return join(outdir, 'main.mjs');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outdir = process.argv[2];
  if (!outdir) {
    console.error('usage: tsx media-task/bundle.ts <outdir>');
    process.exit(2);
  }
  console.log(await bundleScripts(outdir));
}
