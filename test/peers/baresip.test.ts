import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { startBaresip } from '../support/baresip.ts';
import { freeRtpPort } from '../support/free-port.ts';
import { startKamailio, type KamailioPeer } from '../support/kamailio.ts';
import { fixture, runSipp } from './sipp.ts';

/** UDP sinks standing in for sipp's media ports, so we can count what baresip sends (and no ICMP ends the call). */
async function mediaSinks(base: number, count: number) {
  const packets = new Map<number, { payloadType: number; size: number }[]>();
  const sockets: Socket[] = [];
  for (let offset = 0; offset < count; offset++) {
    const port = base + offset;
    packets.set(port, []);
    const socket = createSocket('udp4');
    socket.on('message', (message) =>
      packets.get(port)!.push({ payloadType: (message[1] ?? 0) & 0x7f, size: message.length }),
    );
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => resolve());
    });
    sockets.push(socket);
  }
  return {
    packets: (port: number) => packets.get(port) ?? [],
    close: () => Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve())))),
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});
function track<T extends { close(): Promise<unknown> }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

describe('baresip test peer', () => {
  it('auto-answers a sipp call with PCMU, sends RTP, reports events and DTMF', async () => {
    const baresip = track(await startBaresip({ username: 'bob', audio: 'ausine', autoAnswer: true }));
    const mediaPort = await freeRtpPort();
    const media = track(await mediaSinks(mediaPort, 2));
    const run = await runSipp(`127.0.0.1:${baresip.port}`, [
      '-sf',
      fixture('baresip/uac-call.xml'),
      '-s',
      'bob',
      '-key',
      'caller',
      'sipp',
      '-mi',
      '127.0.0.1',
      '-key',
      'audio_port',
      String(mediaPort),
      '-key',
      'video_port',
      String(mediaPort + 2),
      '-d',
      '2000',
    ]);
    expect(run.code, run.output).toBe(0);
    const answer =
      run.messages.split(/\n-{20,}/).find((message) => /SIP\/2\.0 200[\s\S]*CSeq: 1 INVITE/.test(message)) ?? '';
    expect(answer).toMatch(/m=audio [1-9]\d* RTP\/AVP 0/);
    expect(answer).toMatch(/c=IN IP4 127\.0\.0\.1/);

    const established = await baresip.waitForEvent('CALL_ESTABLISHED');
    expect(established.direction).toBe('incoming');
    const dtmf = await baresip.waitForEvent('CALL_DTMF_START');
    expect(dtmf.param).toBe('1');
    const closed = await baresip.waitForEvent((event) => event.type === 'CALL_CLOSED' && event.id === established.id);
    expect(closed.id).toBe(established.id);

    const rtp = media.packets(mediaPort).filter((packet) => packet.payloadType === 0);
    // 20 ms PCMU packets (12-byte header + 160 bytes) for about 2 s.
    expect(rtp.length).toBeGreaterThan(50);
    expect(rtp[0]!.size).toBe(172);
  });

  it('answers video with VP8 from fakevideo when video is on', async () => {
    const baresip = track(await startBaresip({ username: 'vid', video: true }));
    const mediaPort = await freeRtpPort();
    const media = track(await mediaSinks(mediaPort, 4));
    const run = await runSipp(`127.0.0.1:${baresip.port}`, [
      '-sf',
      fixture('baresip/uac-call-video.xml'),
      '-s',
      'vid',
      '-key',
      'caller',
      'sipp',
      '-mi',
      '127.0.0.1',
      '-key',
      'audio_port',
      String(mediaPort),
      '-key',
      'video_port',
      String(mediaPort + 2),
      '-d',
      '2000',
    ]);
    expect(run.code, run.output).toBe(0);
    expect(run.messages).toMatch(/m=video [1-9]\d* RTP\/AVP 96/);
    expect(media.packets(mediaPort + 2).filter((packet) => packet.payloadType === 96).length).toBeGreaterThan(5);
    expect(media.packets(mediaPort).filter((packet) => packet.payloadType === 0).length).toBeGreaterThan(50);
  });

  it('dials another baresip, sends DTMF, holds, resumes and hangs up', async () => {
    const callee = track(await startBaresip({ username: 'callee' }));
    const caller = track(await startBaresip({ username: 'caller' }));
    await caller.dial(callee.uri);
    await caller.waitForEvent('CALL_ESTABLISHED');
    await callee.waitForEvent('CALL_ESTABLISHED');

    await caller.sendDtmf('42#');
    const digits: string[] = [];
    for (let since = 0; digits.length < 3;) {
      const event = await callee.waitForEvent('CALL_DTMF_START', { since });
      digits.push(event.param ?? '');
      since = callee.events.indexOf(event) + 1;
    }
    expect(digits).toEqual(['4', '2', '#']);

    // hold and resume are re-INVITEs: the callee sees a new remote offer for each.
    const isOffer = (event: { type: string; param?: string }) =>
      event.type === 'CALL_REMOTE_SDP' && event.param === 'offer';
    let mark = callee.events.length;
    await caller.hold();
    await callee.waitForEvent(isOffer, { since: mark });
    mark = callee.events.length;
    await caller.resume();
    await callee.waitForEvent(isOffer, { since: mark });

    await caller.hangup();
    await caller.waitForEvent('CALL_CLOSED');
    await callee.waitForEvent('CALL_CLOSED');
  });

  it('registers with kamailio and is reached through it by an authenticated sipp', async () => {
    const kamailio: KamailioPeer = track(
      await startKamailio({
        users: [
          { username: 'alice', password: 'alicepw' },
          { username: 'bob', password: 'bobpw' },
        ],
      }),
    );
    const baresip = track(
      await startBaresip({
        register: { registrar: kamailio.uri, username: 'bob', password: 'bobpw' },
        autoAnswer: true,
      }),
    );
    await baresip.waitForRegistration();
    const contacts = await kamailio.waitForRegistration('bob');
    expect(contacts[0]!.address).toContain(`127.0.0.1:${baresip.port}`);

    const mediaPort = await freeRtpPort();
    const media = track(await mediaSinks(mediaPort, 2));
    const run = await runSipp(`127.0.0.1:${kamailio.port}`, [
      '-sf',
      fixture('baresip/uac-call.xml'),
      '-s',
      'bob',
      '-key',
      'caller',
      'alice',
      '-au',
      'alice',
      '-ap',
      'alicepw',
      '-mi',
      '127.0.0.1',
      '-key',
      'audio_port',
      String(mediaPort),
      '-key',
      'video_port',
      String(mediaPort + 2),
      '-d',
      '1500',
    ]);
    expect(run.code, run.output).toBe(0);
    expect(run.messages).toMatch(/SIP\/2\.0 407/);
    expect(run.messages).toMatch(/Record-Route: <sip:127\.0\.0\.1:\d+;lr/);
    await baresip.waitForEvent('CALL_ESTABLISHED');
    await baresip.waitForEvent('CALL_CLOSED');
    expect(media.packets(mediaPort).length).toBeGreaterThan(30);
  });
});
