/**
 * Hold and back with a real softphone: baresip (a 1 kHz sine) re-INVITEs a=sendonly, stays on hold, then
 * re-INVITEs back to sendrecv. The broadcast (slate + audio) must not stall or end meanwhile, and the tone comes
 * back after it. What reached nginx-rtmp is read back packet by packet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBaresip } from '../support/baresip.ts';
import { useCleanup } from '../support/cleanup.ts';
import { checkTimeline, measureTone, probe } from '../support/media-check.ts';
import { MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp, waitFor } from '../support/nginx-rtmp.ts';

let nginx: NginxRtmp;
const { owned } = useCleanup();

beforeAll(async () => {
  nginx = await NginxRtmp.start();
});

afterAll(async () => {
  await nginx?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('media task CDN output across hold (baresip re-INVITE)', () => {
  it('keeps publishing through hold and resume: no gap, tone back afterwards', async () => {
    const phone = owned(await startBaresip({ audio: 'ausine', sineHz: 1000 }));
    const run = owned(
      await MediaTaskProcess.start(
        testCallSpec({
          callee: 'baresip',
          video: 'slate',
          rtmpUrl: nginx.url,
          rtmpStream: 'hold',
          connection: { sipPort: phone.port },
        }),
      ),
    );
    await run.waitForEvent('streaming');
    await sleep(2_000);
    await phone.hold();
    await waitFor(
      () => run.logLines.filter((line) => line.includes('peer changed the media')).length >= 1,
      5_000,
      'the hold re-INVITE',
    );
    await sleep(4_000);
    await phone.resume();
    await waitFor(
      () => run.logLines.filter((line) => line.includes('peer changed the media')).length >= 2,
      5_000,
      'the resume re-INVITE',
    );
    await sleep(3_000);
    run.terminate();
    const final = await run.final(15_000);
    expect(final).toMatchObject({ type: 'ended', by: 'local' });

    const file = await nginx.waitForRecording('hold');
    const probed = await probe(file);
    const timeline = await checkTimeline(file);
    console.log(
      `hold: ${probed.durationSeconds.toFixed(2)} s recorded; largest gap audio ${timeline.largestGap.audio} s video ${timeline.largestGap.video} s`,
    );
    expect(timeline.monotonic).toBe(true);
    expect(timeline.largestGap.audio).toBeLessThan(1);
    expect(timeline.largestGap.video).toBeLessThan(1);
    const callSeconds = final.type === 'ended' ? final.durationSeconds : 0;
    expect(Math.abs(probed.durationSeconds - callSeconds)).toBeLessThan(1.5);
    const after = await measureTone(file, {
      fromSeconds: probed.durationSeconds - 2.5,
      toSeconds: probed.durationSeconds - 0.3,
    });
    expect(Math.abs(after.frequencyHz - 1000)).toBeLessThan(50);
  });
});
