/**
 * The audio level in a call's stats, end to end: the media task against a sipp UAS streaming PCMU, its tone at
 * full volume and then at zero, with nginx-rtmp taking the broadcast. sox makes the tone at -6 dBFS RMS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanup } from '../support/cleanup.ts';
import { makeToneWav, MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';

let loud: string;
let quiet: string;
let nginx: NginxRtmp;
const { owned } = useCleanup();

beforeAll(async () => {
  [loud, quiet] = await Promise.all([
    mkdtemp(join(tmpdir(), 'audio-level-tone-')),
    mkdtemp(join(tmpdir(), 'audio-level-quiet-')),
  ]);
  // The same scenario in both (it plays tone-1khz.wav from its working directory), the second one silent.
  await makeToneWav(join(loud, 'tone-1khz.wav'));
  await makeToneWav(join(quiet, 'tone-1khz.wav'), { volume: 0 });
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
  for (const dir of [loud, quiet]) if (dir) await rm(dir, { recursive: true, force: true });
});

/** A three-second call; the level of the stats event the task sends as it ends, which covers the whole call. */
async function levelOfCall(cwd: string, stream: string): Promise<number | undefined> {
  const peer = owned(await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd, timeoutSeconds: 40 }));
  const spec = testCallSpec({ rtmpUrl: nginx.url, rtmpStream: stream, connection: { sipPort: peer.port } });
  const run = owned(await MediaTaskProcess.start(spec));
  await run.waitForEvent('streaming');
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  run.terminate();
  expect(await run.final(10_000)).toMatchObject({ type: 'ended' });
  const stats = run.events.filter((event) => event.type === 'stats');
  const last = stats.at(-1);
  return last?.type === 'stats' ? last.audioLevelDb : undefined;
}

describe("the peer's audio level in the call's stats", () => {
  it('reads a tone near -6 dBFS and a silent peer below -60 dBFS', async () => {
    const tone = await levelOfCall(loud, 'level-tone');
    const silence = await levelOfCall(quiet, 'level-silence');
    console.log(`audio level: tone ${tone} dBFS, silence ${silence} dBFS`);
    expect(tone).toBeGreaterThan(-8);
    expect(tone).toBeLessThan(-4);
    expect(silence).toBeLessThan(-60);
  });
});
