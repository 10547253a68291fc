/**
 * The slate clip of audio-only calls: encoded once per title and machine, cached in the temp dir, looped by the
 * call's encoder without re-encoding (ffmpeg-args.ts). Encoding takes ~0.5 s of one core; the call runner starts
 * it while the phone rings, so an answered call does not wait for it.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../shared/log.ts';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { buildSlateArgs, type SlatePlan } from './relay-args.ts';

export class SlateError extends Error {
  override name = 'SlateError';
  constructor(
    message: string,
    readonly lastLines: string[],
  ) {
    super(message);
  }
}

/** 720p30: accepted everywhere; a still costs the same bytes at any size once its IDR is sent. */
const SLATE = { width: 1280, height: 720, fps: 30, color: '1d2b3a' } as const;
/** Bump when the clip's encoding changes, so cached clips of the old kind are not reused. */
const CACHE_VERSION = 2;

export interface SlateOptions {
  title?: string;
  ffmpegPath: string;
  logger: Logger;
  /** Default: `<tmpdir>/gw-slate-cache`. */
  cacheDir?: string;
}

/** Path of an MP4 slate clip for `title`, encoding it unless a cached one exists. */
export async function ensureSlateClip(options: SlateOptions): Promise<string> {
  const cacheDir = options.cacheDir ?? join(tmpdir(), 'gw-slate-cache');
  await mkdir(cacheDir, { recursive: true });
  const title = options.title?.trim() || undefined;
  const key = createHash('sha256')
    .update(JSON.stringify({ v: CACHE_VERSION, ...SLATE, title }))
    .digest('hex')
    .slice(0, 24);
  const clipPath = join(cacheDir, `slate-${key}.mp4`);
  if (
    await stat(clipPath).then(
      (s) => s.size > 0,
      () => false,
    )
  )
    return clipPath;
  const work = await mkdtemp(join(cacheDir, 'work-'));
  try {
    const outPath = join(work, 'slate.mp4');
    const plan: SlatePlan = { ...SLATE, outPath };
    if (title) {
      plan.titlePath = join(work, 'title.txt');
      await writeFile(plan.titlePath, title);
    }
    try {
      await encode(buildSlateArgs(plan), options);
    } catch (error) {
      if (!plan.titlePath) throw error;
      // A host without fonts (a slim container) still gets a slate, without its title.
      options.logger.warn('slate title not drawn; using a plain slate', { error });
      await encode(buildSlateArgs({ ...plan, titlePath: undefined }), options);
    }
    // rename is atomic: a concurrent call for the same title finds either no clip or a whole one.
    await rename(outPath, clipPath);
    options.logger.info('slate clip encoded', { clipPath });
    return clipPath;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function encode(args: string[], options: SlateOptions): Promise<void> {
  const child = await OwnedProcess.start({
    name: 'ffmpeg slate',
    command: options.ffmpegPath,
    args,
    diesWithOwner: true,
  });
  const exit = await child.exited;
  if (exit.code !== 0) throw new SlateError(`slate encode exited with code ${exit.code}`, child.lastLines());
}
