/**
 * The media task end to end against a softphone (baresip: auto-answer, a sine tone, DTMF, hang-up from the
 * phone) and a registrar/proxy with digest auth (kamailio), publishing to nginx-rtmp.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBaresip } from '../support/baresip.ts';
import { startKamailio, type KamailioPeer } from '../support/kamailio.ts';
import { useCleanup } from '../support/cleanup.ts';
import { measureTone, probe } from '../support/media-check.ts';
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

describe('media task against baresip', () => {
  it('streams the phone audio, sends the spec DTMF as RFC 4733, and ends when the phone hangs up', async () => {
    const phone = owned(await startBaresip({ audio: 'ausine', sineHz: 1000, video: true }));
    const spec = testCallSpec({
      callee: 'baresip',
      rtmpUrl: nginx.url,
      rtmpStream: 'baresip1',
      hasVideo: true,
      dtmf: '123#',
      connection: { sipPort: phone.port },
    });
    const run = owned(await MediaTaskProcess.start(spec));
    await run.waitForEvent('streaming');
    await waitFor(
      () => phone.events.filter((event) => event.type === 'CALL_DTMF_START').length >= 4,
      10_000,
      'four DTMF digits at baresip',
    );
    expect(phone.events.filter((event) => event.type === 'CALL_DTMF_START').map((event) => event.param)).toEqual([
      '1',
      '2',
      '3',
      '#',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await phone.hangup();
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'remote' });
    expect(await run.exited).toMatchObject({ code: 0 });

    const recording = await nginx.waitForRecording('baresip1');
    expect((await probe(recording)).streams.map((stream) => stream.codec)).toContain('aac');
    const tone = await measureTone(recording);
    expect(tone.frequencyHz).toBeGreaterThan(950);
    expect(tone.frequencyHz).toBeLessThan(1050);
  });

  it('sends DTMF commands received while live', async () => {
    const phone = owned(await startBaresip({ audio: 'ausine' }));
    const run = owned(
      await MediaTaskProcess.start(
        testCallSpec({
          callee: 'baresip',
          rtmpUrl: nginx.url,
          rtmpStream: 'baresip2',
          connection: { sipPort: phone.port },
        }),
      ),
    );
    await run.waitForEvent('streaming');
    run.command({ type: 'dtmf', digits: '9*' });
    await waitFor(
      () => phone.events.filter((event) => event.type === 'CALL_DTMF_START').length >= 2,
      10_000,
      'two DTMF digits at baresip',
    );
    expect(phone.events.filter((event) => event.type === 'CALL_DTMF_START').map((event) => event.param)).toEqual([
      '9',
      '*',
    ]);
    run.command({ type: 'hangup' });
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'local' });
    await phone.waitForEvent('CALL_CLOSED');
  });
});

describe('media task through kamailio (registrar + proxy with digest auth)', () => {
  let kamailio: KamailioPeer;
  const users = [
    { username: 'gateway', password: 'gw-Secret-1' },
    { username: 'alice', password: 'alice-Secret-2' },
  ];

  beforeAll(async () => {
    kamailio = await startKamailio({ users });
  });

  afterAll(async () => {
    await kamailio?.close();
  });

  const gatewaySpec = (password: string, stream: string) =>
    testCallSpec({
      callee: 'alice',
      rtmpUrl: nginx.url,
      rtmpStream: stream,
      connection: {
        sipLogin: 'gateway',
        sipAuthenticationName: 'gateway',
        sipPassword: password,
        sipPort: kamailio.port,
        sipRegisterRequired: true,
      },
    });

  it('registers, calls a registered phone through the proxy, streams, and unregisters at the end', async () => {
    const phone = owned(
      await startBaresip({
        audio: 'ausine',
        username: 'alice',
        register: { registrar: kamailio.uri, username: 'alice', password: 'alice-Secret-2' },
      }),
    );
    await phone.waitForRegistration();
    const run = owned(await MediaTaskProcess.start(gatewaySpec('gw-Secret-1', 'kamailio1')));
    await run.waitForEvent('streaming');
    expect(await kamailio.registered('gateway')).toHaveLength(1);
    run.terminate();
    expect(await run.final()).toMatchObject({ type: 'ended', by: 'local' });
    await phone.waitForEvent('CALL_CLOSED');
    expect(await kamailio.registered('gateway')).toHaveLength(0);
    expect((await probe(await nginx.waitForRecording('kamailio1'))).streams.map((stream) => stream.codec)).toEqual([
      'aac',
    ]);
  });

  it('fails with reason auth on a wrong password, and streams nothing', async () => {
    const run = owned(await MediaTaskProcess.start(gatewaySpec('not-the-password', 'kamailio2')));
    expect(await run.final()).toMatchObject({ type: 'failed', reason: 'auth' });
    expect(run.types()).toEqual(['dialing', 'failed']);
    expect(existsSync(nginx.recordingPath('kamailio2'))).toBe(false);
    expect(run.logLines.join('\n')).not.toContain('not-the-password');
  });
});
