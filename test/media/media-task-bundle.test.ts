/**
 * What a local media task loads at start: the modules its entry reaches through static imports (every call
 * starts one task, so what they parse is start-up CPU that calls starting together compete for), and the
 * ffmpeg it runs.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { mediaTaskEntry, taskFfmpegPath } from '../support/media-task-bundle.ts';

const run = async (command: string, args: string[]) => (await promisify(execFile)(command, args)).stdout;
const sharedLibraries = async (binary: string) =>
  (await run('ldd', [binary])).split('\n').filter((line) => line.includes('=>')).length;

/** The files reachable from `entry` by `import`/`export … from "./file"` and `import "./file"` (dynamic `import()` left out). */
async function staticallyLoaded(entry: string): Promise<Map<string, string>> {
  const loaded = new Map<string, string>();
  const visit = async (path: string) => {
    if (loaded.has(path)) return;
    const text = await readFile(path, 'utf8');
    loaded.set(path, text);
    for (const [, file] of text.matchAll(/^(?:import|export)\s[^;]*?(?:from\s*)?"(\.\/[^"]+)"/gms))
      await visit(join(dirname(path), file!));
  };
  await visit(entry);
  return loaded;
}

describe('media task bundle', () => {
  it('starts without the AWS SDK, the WebSocket library and the parts of zod it never uses', async () => {
    const loaded = await staticallyLoaded(await mediaTaskEntry());
    const text = [...loaded.values()].join('\n');
    // The bundle is not minified: esbuild heads each module it inlines with its path.
    expect(text).toMatch(/^\/\/ node_modules\/zod\/v4\/core\//m);
    expect(text).not.toMatch(/^\/\/ node_modules\/@aws-sdk\//m);
    expect(text).toMatch(/^\/\/ node_modules\/sip\/sip\.js$/m);
    expect(text).not.toMatch(/^\/\/ node_modules\/ws\//m);
    // The call spec's schemas are zod's functional build: no locale, and none of the method-chaining classes.
    expect(text).not.toMatch(/^\/\/ node_modules\/zod\/v4\/(locales|classic)\//m);
  });

  it("runs its own ffmpeg: Debian's version of the source, without Debian's hundreds of libraries", async () => {
    const ffmpeg = await taskFfmpegPath();
    const version = (banner: string) => /^ffmpeg version (\d+\.\d+(?:\.\d+)?)/.exec(banner)?.[1];
    const banner = await run(ffmpeg, ['-version']);
    expect(banner).toMatch(/^ffmpeg version \S+-sip-rtmp-gateway /);
    // A cached build outlives Debian's security updates; a rebuild picks them up.
    expect(version(banner), "older than Debian's ffmpeg: rm -rf node_modules/.cache/sip-rtmp-gateway to rebuild").toBe(
      version(await run('ffmpeg', ['-version'])),
    );
    const debianLibraries = await sharedLibraries((await run('sh', ['-c', 'command -v ffmpeg'])).trim());
    expect(await sharedLibraries(ffmpeg)).toBeLessThan(debianLibraries / 5);
  });
});
