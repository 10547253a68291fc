/**
 * Whether an ffmpeg has what the media task's arguments use (components.txt, the list build.sh enables), asked
 * of the binary itself through its listing options. A system ffmpeg is checked once before tasks run on it, so
 * that a missing encoder or protocol is one clear line at start, not a failed call later.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const COMPONENTS = fileURLToPath(new URL('./components.txt', import.meta.url));

/** ffmpeg's listing option for each kind it can list; parsers have none. */
const LISTINGS: Record<string, { option: string; nameOnly: boolean }> = {
  protocol: { option: '-protocols', nameOnly: true },
  bsf: { option: '-bsfs', nameOnly: true },
  demuxer: { option: '-demuxers', nameOnly: false },
  muxer: { option: '-muxers', nameOnly: false },
  decoder: { option: '-decoders', nameOnly: false },
  encoder: { option: '-encoders', nameOnly: false },
  filter: { option: '-filters', nameOnly: false },
  indev: { option: '-devices', nameOnly: false },
};

/** components.txt as kind → names, comments left out. */
export async function requiredComponents(): Promise<Map<string, string[]>> {
  const required = new Map<string, string[]>();
  for (const line of (await readFile(COMPONENTS, 'utf8')).split('\n')) {
    const [kind, ...names] = line.trim().split(/\s+/);
    if (!kind || kind.startsWith('#')) continue;
    required.set(kind, [...(required.get(kind) ?? []), ...names]);
  }
  return required;
}

/**
 * The names in one listing. Protocols and bitstream filters are listed a name a line; the others as a flags
 * column, then the name (formats may list several, comma-separated: `mov,mp4,m4a`), then a description. A
 * codec's description ends in `(codec <id>)` where its name is not its codec's, and configure names some by
 * the codec (the decoder `g722` is configure's `adpcm_g722`): both count, as ffmpeg decodes a codec with any
 * decoder it has for it.
 */
export function listedNames(output: string, nameOnly: boolean): Set<string> {
  const names = new Set<string>();
  for (const line of output.split('\n')) {
    const match = nameOnly
      ? /^\s*([\w-]+)\s*$/.exec(line)
      : /^\s*\S+\s+([\w,-]+)(?:\s.*?(?:\(codec (\w+)\))?)?\s*$/.exec(line);
    for (const name of [...(match?.[1]?.split(',') ?? []), match?.[2]]) if (name) names.add(name);
  }
  return names;
}

/**
 * What `ffmpegPath` lacks of components.txt, as `<kind> <name>` (empty when it has everything). Rejects when it
 * does not run.
 */
export async function missingComponents(ffmpegPath: string): Promise<string[]> {
  const required = await requiredComponents();
  const kinds = [...required.keys()].filter((kind) => LISTINGS[kind]);
  const listings = await Promise.all(
    kinds.map(async (kind) => {
      const { option, nameOnly } = LISTINGS[kind]!;
      const { stdout } = await promisify(execFile)(ffmpegPath, ['-hide_banner', option], { maxBuffer: 4 << 20 });
      return listedNames(stdout, nameOnly);
    }),
  );
  return kinds.flatMap((kind, index) =>
    required
      .get(kind)!
      .filter((name) => !listings[index]!.has(name))
      .map((name) => `${kind} ${name}`),
  );
}
