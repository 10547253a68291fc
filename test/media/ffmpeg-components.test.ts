/**
 * The check a system ffmpeg passes before local tasks run on it (media-task/ffmpeg/ffmpeg-components.ts), and
 * the choice of the tasks' ffmpeg (task-ffmpeg.ts), against real binaries: the slim build, Debian's ffmpeg, and
 * Debian's behind a wrapper that hides some of what it has.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listedNames, missingComponents, requiredComponents } from '../../media-task/ffmpeg/ffmpeg-components.ts';
import { chooseTaskFfmpeg, ensureTaskFfmpeg } from '../../media-task/ffmpeg/task-ffmpeg.ts';

const systemFfmpeg = execFileSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).trim();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ffmpeg-components-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Debian's ffmpeg, minus the listing lines that match `hide` (a grep -E pattern). */
async function ffmpegWithout(name: string, hide: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n"${systemFfmpeg}" "$@" | grep -Ev '${hide}'\n`);
  await chmod(path, 0o755);
  return path;
}

describe('the tasks ffmpeg', () => {
  it.each([
    [
      'a codec listing: flags, then the name',
      ' ------\n A....D pcm_mulaw            PCM mu-law / G.711 mu-law\n V....D h264                 H.264',
      false,
      ['pcm_mulaw', 'h264'],
    ],
    [
      'a codec named apart from its codec',
      ' A....D g722                 G.722 ADPCM (codec adpcm_g722)',
      false,
      ['g722', 'adpcm_g722'],
    ],
    [
      'a format listing: several names',
      ' --\n D  mov,mp4,m4a,3gp,3g2,mj2 QuickTime / MOV\n  E flv             FLV (Flash Video)',
      false,
      ['mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2', 'flv'],
    ],
    ['a filter listing', ' ..C color             |->V       Provide an uniformly colored input.', false, ['color']],
    [
      'a name a line, headings left out',
      'Supported file protocols:\nInput:\n  rtmp\n  rtmps\nOutput:\n  tee',
      true,
      ['rtmp', 'rtmps', 'tee'],
    ],
  ])('reads %s', (_, output, nameOnly, names) => {
    expect([...listedNames(output, nameOnly)].filter((name) => names.includes(name))).toEqual(names);
    // Headings and descriptions are no names: "file" is in "Supported file protocols:".
    if (nameOnly) expect(listedNames(output, nameOnly).has('file')).toBe(false);
  });

  it('components.txt lists each kind the build enables, and both the slim build and Debian ffmpeg have all of it', async () => {
    const required = await requiredComponents();
    expect([...required.keys()].sort()).toEqual([
      'bsf',
      'decoder',
      'demuxer',
      'encoder',
      'filter',
      'indev',
      'muxer',
      'parser',
      'protocol',
    ]);
    expect(required.get('encoder')).toEqual(['aac', 'libx264']);
    expect(await missingComponents(await ensureTaskFfmpeg())).toEqual([]);
    expect(await missingComponents(systemFfmpeg)).toEqual([]);
  });

  it('names what an ffmpeg lacks, and refuses it as the tasks ffmpeg in one line', async () => {
    const unfit = await ffmpegWithout('ffmpeg-without-x264-rtmps', 'libx264|rtmps');
    expect(await missingComponents(unfit)).toEqual(['protocol rtmps', 'encoder libx264']);
    await expect(chooseTaskFfmpeg(unfit)).rejects.toThrow(
      `${unfit} lacks what the media task uses: protocol rtmps, encoder libx264`,
    );
    await expect(chooseTaskFfmpeg(join(dir, 'absent'))).rejects.toThrow(/^FFMPEG_PATH \(.*absent\) does not run/);
  });

  it('takes FFMPEG_PATH when it fits, else the slim build once built', async () => {
    expect(await chooseTaskFfmpeg(systemFfmpeg)).toEqual({ path: systemFfmpeg, source: 'FFMPEG_PATH' });
    expect(await chooseTaskFfmpeg(undefined)).toEqual({ path: await ensureTaskFfmpeg(), source: 'slim build' });
  });
});
