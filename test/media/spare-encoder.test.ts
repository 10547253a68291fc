/** The spare encoder, on a real ffmpeg waiting for its SDP on stdin. */
import { describe, expect, it } from 'vitest';
import { ffmpegLauncher, SpareEncoder } from '../../media-task/pipeline/spare-encoder.ts';
import { ProcessStartError, type OwnedProcess } from '../../shared/owned-process.ts';
import { waitFor } from '../support/nginx-rtmp.ts';
import { useCleanup } from '../support/cleanup.ts';

const { owned } = useCleanup();

// Debian's ffmpeg: the task's has no null muxer, and what is tested here is the hand-over, not the encode.
// No -hide_banner: ffmpeg prints its banner before it reads stdin, which shows the lines printed before a take.
const ARGS = ['-nostdin', '-protocol_whitelist', 'pipe,udp,rtp', '-f', 'sdp', '-i', 'pipe:0', '-f', 'null', '-'];
/** An SDP ffmpeg refuses at once: reading it, the encoder exits, so its exit shows what it was given. */
const NOT_AN_SDP = 'hello\r\n';

async function spawnedSpare(args = ARGS): Promise<{ spare: SpareEncoder; process: OwnedProcess }> {
  const spare = owned(SpareEncoder.start(args, 'ffmpeg'));
  const process = (await spare.spawned)!;
  owned({ close: () => process.close('SIGKILL') });
  await waitFor(() => process.lastLines().some((line) => line.startsWith('ffmpeg version')), 5_000, 'the banner');
  return { spare, process };
}

describe('SpareEncoder', () => {
  it('hands its process to a take with the same arguments, with the lines printed before, and only once', async () => {
    const { spare, process } = await spawnedSpare();
    const lines: string[] = [];
    expect(await spare.take([...ARGS], (line) => lines.push(line))).toBe(process);
    expect(spare.taken).toBe(true);
    expect(lines[0]).toMatch(/^ffmpeg version/);
    expect(await spare.take(ARGS, () => {})).toBeUndefined();
    // Taken, it is the taker's: closing the spare leaves it running.
    await spare.close();
    expect(process.running).toBe(true);
    process.endInput(NOT_AN_SDP);
    expect((await process.exited).code).not.toBe(0);
    expect(lines.join('\n')).toMatch(/pipe:0/);
  });

  it.each([
    ['other arguments', [...ARGS.slice(0, -1), 'pipe:1']],
    ['fewer arguments', ARGS.slice(0, -2)],
  ])('is killed, and hands nothing, when the answer needs %s', async (_name, args) => {
    const { spare, process } = await spawnedSpare();
    expect(await spare.take(args, () => {})).toBeUndefined();
    expect(spare.taken).toBe(false);
    expect(await process.exited).toMatchObject({ signal: 'SIGKILL' });
  });

  it('taken while it is still being spawned, hands its process once spawned', async () => {
    const spare = owned(SpareEncoder.start(ARGS, 'ffmpeg'));
    const process = owned((await spare.take(ARGS, () => {}))!);
    expect(process).toBe(await spare.spawned);
    expect(process.running).toBe(true);
  });

  it('hands nothing once its process is gone', async () => {
    const { spare, process } = await spawnedSpare();
    await process.close('SIGKILL');
    expect(await spare.take(ARGS, () => {})).toBeUndefined();
  });

  it('closed before any take, reaps its process', async () => {
    const { spare, process } = await spawnedSpare();
    await spare.close();
    expect(process.running).toBe(false);
  });

  it('of an ffmpeg that cannot run, hands nothing, and the launch fails with the reason', async () => {
    const spare = SpareEncoder.start(ARGS, '/nonexistent/ffmpeg');
    expect(await spare.spawned).toBeUndefined();
    const launch = ffmpegLauncher('/nonexistent/ffmpeg', spare);
    await expect(launch({ name: 'ffmpeg encoder', args: ARGS, input: NOT_AN_SDP, onLine: () => {} })).rejects.toThrow(
      ProcessStartError,
    );
  });
});

describe('ffmpegLauncher', () => {
  it('gives the encoder its input on stdin, from the spare when it fits', async () => {
    const { spare, process } = await spawnedSpare();
    const launch = ffmpegLauncher('ffmpeg', spare);
    const encoder = owned(await launch({ name: 'ffmpeg encoder', args: ARGS, input: NOT_AN_SDP, onLine: () => {} }));
    expect(encoder).toBe(process);
    expect((await encoder.exited).code).not.toBe(0);
    // The same launch again (a restart) spawns a new one, with the input again.
    const lines: string[] = [];
    const again = owned(
      await launch({ name: 'ffmpeg encoder', args: ARGS, input: NOT_AN_SDP, onLine: (line) => lines.push(line) }),
    );
    expect(again.pid).not.toBe(process.pid);
    expect((await again.exited).code).not.toBe(0);
    expect(lines.join('\n')).toMatch(/pipe:0/);
  });

  it('leaves the spare to the encoder: a launch without input (a republisher) spawns its own', async () => {
    const { spare, process } = await spawnedSpare();
    const launch = ffmpegLauncher('ffmpeg', spare);
    const republisher = owned(
      await launch({ name: 'ffmpeg republisher', args: ['-hide_banner', '-version'], onLine: () => {} }),
    );
    expect(republisher.pid).not.toBe(process.pid);
    expect(await republisher.exited).toMatchObject({ code: 0 });
    expect(spare.taken).toBe(false);
    expect(process.running).toBe(true);
  });
});
