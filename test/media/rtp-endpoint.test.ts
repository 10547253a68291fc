import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDtmfPayload, DtmfError } from '../../media-task/rtp/dtmf.ts';
import type { NegotiatedStream } from '../../media-task/sip/sdp.ts';
import { pcmuStream } from '../support/pcmu-stream.ts';
import { RtpEndpoint } from '../../media-task/rtp/rtp-endpoint.ts';
import { buildRtp, parseRtp, type RtpPacket } from '../support/rtp-packet.ts';
import { relayPath } from '../support/media-task-bundle.ts';
import { waitFor } from '../support/nginx-rtmp.ts';

interface Received extends RtpPacket {
  payload: Buffer;
  at: number;
  from: number;
}

/** A UDP socket playing the SIP peer's media port, recording every RTP packet it gets. */
async function peerSocket(): Promise<{ socket: Socket; port: number; packets: Received[] }> {
  const socket = createSocket('udp4');
  const packets: Received[] = [];
  socket.on('message', (message, rinfo) => {
    const packet = parseRtp(message);
    if (packet)
      packets.push({
        ...packet,
        payload: message.subarray(packet.payloadOffset, packet.payloadEnd),
        at: performance.now(),
        from: rinfo.port,
      });
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, packets };
}

const stream = (remotePort: number, extra: Partial<NegotiatedStream> = {}) =>
  pcmuStream(remotePort, { telephoneEvent: { payloadType: 101, clockRate: 8000 }, ...extra });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What ffmpeg got as 20 ms PCMU frames: a joined packet is one frame per 160 bytes, each at its own timestamp. */
const frames = (packets: Received[]) =>
  packets.flatMap((packet) =>
    Array.from({ length: packet.payload.length / 160 }, (_, k) => ({
      ...packet,
      timestamp: (packet.timestamp + k * 160) >>> 0,
      payload: packet.payload.subarray(k * 160, (k + 1) * 160),
    })),
  );
const consecutive = (packets: Received[]) =>
  packets.slice(1).every((packet, i) => ((packet.sequence - packets[i]!.sequence) & 0xffff) === 1);

describe('RtpEndpoint', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });
  const bind = async (options: Partial<Parameters<typeof RtpEndpoint.bind>[0]> = {}) => {
    const endpoint = await RtpEndpoint.bind({
      kind: 'audio',
      bindAddress: '127.0.0.1',
      relay: await relayPath(),
      ...options,
    });
    cleanups.push(() => endpoint.close());
    return endpoint;
  };
  const peer = async () => {
    const p = await peerSocket();
    cleanups.push(() => p.socket.close());
    return p;
  };
  /** An endpoint that forwards what `phone` sends to `ffmpeg`. */
  const forwarding = async () => {
    const [endpoint, ffmpeg, phone] = [await bind(), await peer(), await peer()];
    endpoint.setRemote(stream(phone.port));
    endpoint.forwardTo(ffmpeg.port);
    return { endpoint, ffmpeg, phone };
  };

  it('binds an even RTP port inside the range, with RTCP on the next one', async () => {
    const endpoint = await bind({ portRange: { min: 41000, max: 41999 } });
    expect(endpoint.port % 2).toBe(0);
    expect(endpoint.port).toBeGreaterThanOrEqual(41000);
    expect(endpoint.port).toBeLessThan(41999);
    endpoint.close();
    endpoint.close();
  });

  it('sends comfort silence at 50 packets/s with the negotiated PT, one SSRC, consecutive sequence, +160 per frame', async () => {
    const { port, packets } = await peer();
    const endpoint = await bind();
    expect(endpoint.startComfortSilence(stream(port))).toBe(true);
    await sleep(1000);
    endpoint.close();
    // A datagram sent just before close() can still be on its way to the peer socket; count once it has landed.
    await sleep(30);
    const count = packets.length;
    await sleep(100);
    expect(packets.length).toBe(count); // close stopped it
    console.log(`comfort silence: ${count} packets in 1 s`);
    expect(count).toBeGreaterThanOrEqual(47);
    expect(count).toBeLessThanOrEqual(52);
    expect(new Set(packets.map((p) => p.payloadType))).toEqual(new Set([0]));
    expect(new Set(packets.map((p) => p.ssrc)).size).toBe(1);
    expect(packets.every((p) => p.payload.length === 160 && p.payload.every((b) => b === 0xff))).toBe(true);
    expect(packets[0]!.marker).toBe(true);
    for (let i = 1; i < packets.length; i++) {
      expect((packets[i]!.sequence - packets[i - 1]!.sequence) & 0xffff).toBe(1);
      expect((packets[i]!.timestamp - packets[i - 1]!.timestamp) >>> 0).toBe(160);
    }
    expect(packets.every((p) => p.from === endpoint.port)).toBe(true); // symmetric: sent from the port we offered
  });

  it('sends "123#" as RFC 4733 events in the silence stream: marker, 160 ms durations, 3 end packets, 100 ms gaps', async () => {
    const { port, packets } = await peer();
    const endpoint = await bind();
    const negotiated = stream(port);
    endpoint.startComfortSilence(negotiated);
    await sleep(100);
    const started = performance.now();
    await endpoint.sendDtmf('123#', negotiated);
    const elapsed = performance.now() - started;
    await sleep(60);
    endpoint.close();
    console.log(`sendDtmf('123#') resolved after ${elapsed.toFixed(0)} ms`);
    expect(elapsed).toBeGreaterThan(4 * 260 - 30);
    expect(elapsed).toBeLessThan(4 * 260 + 150);

    expect(new Set(packets.map((p) => p.ssrc)).size).toBe(1);
    for (let i = 1; i < packets.length; i++) expect((packets[i]!.sequence - packets[i - 1]!.sequence) & 0xffff).toBe(1);
    const events = packets.filter((p) => p.payloadType === 101);
    const decoded = events.map((p) => ({
      ...parseDtmfPayload(p.payload),
      marker: p.marker,
      timestamp: p.timestamp,
      at: p.at,
    }));
    const digits: number[] = [];
    for (const event of decoded) if (event.marker) digits.push(event.event);
    expect(digits).toEqual([1, 2, 3, 11]);
    for (const digit of [1, 2, 3, 11]) {
      const mine = decoded.filter((e) => e.event === digit);
      expect(mine).toHaveLength(11);
      expect(new Set(mine.map((e) => e.timestamp)).size).toBe(1);
      expect(mine.filter((e) => e.end)).toHaveLength(3);
      expect(mine.filter((e) => e.end).every((e) => e.duration === 1280)).toBe(true);
      expect(mine.slice(0, 8).every((e) => !e.end)).toBe(true);
      expect(mine.map((e) => e.duration)).toEqual([...mine.map((e) => e.duration)].sort((a, b) => a - b));
    }
    // Event timestamps 260 ms apart in the 8 kHz clock.
    const starts = decoded.filter((e) => e.marker).map((e) => e.timestamp);
    for (let i = 1; i < starts.length; i++) expect((starts[i]! - starts[i - 1]!) >>> 0).toBe(2080);
    // No silence inside an event, silence in the gaps between them.
    const firstEvent = packets.indexOf(events[0]!);
    const lastEvent = packets.lastIndexOf(events.at(-1)!);
    const between = packets.slice(firstEvent, lastEvent).filter((p) => p.payloadType === 0);
    expect(between.length).toBeGreaterThanOrEqual(3 * 4);
    for (const silence of between) {
      const previous = events.filter((e) => e.at <= silence.at).at(-1)!;
      expect(parseDtmfPayload(previous.payload).end).toBe(true);
    }
  });

  it('treats , and w as 500 ms pauses', async () => {
    const { port, packets } = await peer();
    const endpoint = await bind();
    await endpoint.sendDtmf('1,w2', stream(port));
    const markers = packets.filter((p) => p.marker);
    expect(((markers[1]!.timestamp - markers[0]!.timestamp) >>> 0) / 8).toBe(260 + 1000);
  });

  it('refuses DTMF the peer did not negotiate, bad digits, and after close', async () => {
    const endpoint = await bind();
    await expect(endpoint.sendDtmf('1', { ...stream(9), telephoneEvent: undefined })).rejects.toThrow(DtmfError);
    await expect(endpoint.sendDtmf('1x', stream(9))).rejects.toThrow(DtmfError);
    const pending = endpoint.sendDtmf('123', stream(9));
    endpoint.close();
    await expect(pending).rejects.toThrow(DtmfError);
    await expect(endpoint.sendDtmf('1', stream(9))).rejects.toThrow(DtmfError);
  });

  it('sends no silence to a peer that only sends', async () => {
    const endpoint = await bind();
    expect(endpoint.startComfortSilence(stream(9, { peerDirection: 'sendonly' }))).toBe(false);
  });

  it('answers to where the peer sends from (symmetric RTP) once it has latched that source, not to its SDP address', async () => {
    const sdpPeer = await peer();
    const realPeer = await peer();
    const endpoint = await bind();
    endpoint.setRemote(stream(sdpPeer.port));
    endpoint.startComfortSilence(stream(sdpPeer.port));
    await waitFor(() => sdpPeer.packets.length > 0, 1_000, 'silence at the SDP address');
    const latched = new Promise((resolve) => endpoint.once('sourceLatched', resolve));
    // A peer behind NAT: its SDP address never sends; its packets come from elsewhere, in sequence (strict RTP).
    for (let sequence = 1; sequence <= 5; sequence++) {
      realPeer.socket.send(
        buildRtp(
          { marker: false, payloadType: 0, sequence, timestamp: sequence * 160, ssrc: 7 },
          Buffer.alloc(160, 0xff),
        ),
        endpoint.port,
        '127.0.0.1',
      );
    }
    expect(await latched).toEqual({ address: '127.0.0.1', port: realPeer.port });
    await waitFor(() => realPeer.packets.length >= 8, 1_000, 'silence at the latched source');
    const before = sdpPeer.packets.length;
    await waitFor(() => realPeer.packets.length >= 16, 1_000, 'more silence at the latched source');
    expect(sdpPeer.packets.length - before).toBeLessThanOrEqual(1);
  });

  it('keeps comfort silence at 50 packets/s on one clock whether the peer streams (its packets pace it) or goes quiet', async () => {
    const phone = await peer();
    const ffmpeg = await peer();
    const endpoint = await bind();
    const negotiated = stream(phone.port);
    endpoint.connect(negotiated, ffmpeg.port);
    endpoint.startComfortSilence(negotiated);
    const started = performance.now();
    // The phone streams for 1 s at its own 20 ms pace, then goes quiet for 1 s.
    for (let i = 0; i < 50; i++) {
      phone.socket.send(
        buildRtp({ marker: false, payloadType: 0, sequence: i, timestamp: i * 160, ssrc: 9 }, Buffer.alloc(160, 0x55)),
        endpoint.port,
        '127.0.0.1',
      );
      await sleep(Math.max(0, started + (i + 1) * 20 - performance.now()));
    }
    const streamingEnd = performance.now();
    await sleep(1000);
    const ourSilence = phone.packets.filter((packet) => packet.payloadType === 0);
    const whileStreaming = ourSilence.filter((packet) => packet.at < streamingEnd).length;
    const whileQuiet = ourSilence.filter((packet) => packet.at >= streamingEnd).length;
    console.log(
      `comfort silence: ${whileStreaming} packets while the peer streamed 1 s, ${whileQuiet} in the next quiet second`,
    );
    for (const count of [whileStreaming, whileQuiet]) {
      expect(count).toBeGreaterThanOrEqual(45);
      expect(count).toBeLessThanOrEqual(56);
    }
    // One stream throughout: consecutive numbers, and timestamps that follow the wall clock in 20 ms steps.
    for (let i = 1; i < ourSilence.length; i++) {
      expect((ourSilence[i]!.sequence - ourSilence[i - 1]!.sequence) & 0xffff).toBe(1);
      expect((ourSilence[i]!.timestamp - ourSilence[i - 1]!.timestamp) >>> 0).toBe(160);
    }
    // Never more than a frame early, and late by at most the hand-over: our clock takes over 100 ms (QUIET_MS)
    // after the peer's last packet, plus timer slack on a loaded host.
    const t0 = ourSilence[0]!;
    const lateness = ourSilence.map((packet) => packet.at - (t0.at + ((packet.timestamp - t0.timestamp) >>> 0) / 8));
    console.log(
      `comfort silence lateness: ${Math.min(...lateness).toFixed(0)} to ${Math.max(...lateness).toFixed(0)} ms`,
    );
    for (const late of lateness) {
      expect(late).toBeGreaterThan(-25);
      expect(late).toBeLessThan(150);
    }
  });

  it("forwards the peer's audio to ffmpeg as one 60 ms packet per three after the first, the rest once the peer stops", async () => {
    const { endpoint, ffmpeg, phone } = await forwarding();
    const sentAt: number[] = [];
    for (let i = 0; i < 8; i++) {
      sentAt.push(performance.now());
      phone.socket.send(
        buildRtp({ marker: false, payloadType: 0, sequence: i, timestamp: i * 160, ssrc: 7 }, Buffer.alloc(160, 0x55)),
        endpoint.port,
        '127.0.0.1',
      );
      await sleep(20);
    }
    await sleep(130);
    // Silence filled in once the peer is quiet (FILL_AFTER_MS) is left out.
    const out = ffmpeg.packets.filter((packet) => packet.payload.every((byte) => byte === 0x55));
    // 0 alone; 1-3 in one packet when 3 came; 4-6 when 6 came; 7 when the peer had been quiet for QUIET_MS (100 ms).
    expect(out.map((p) => p.payload.length)).toEqual([160, 480, 480, 160]);
    expect(consecutive(out)).toBe(true);
    expect(out.slice(1).map((p, i) => (p.timestamp - out[i]!.timestamp) >>> 0)).toEqual([160, 480, 480]);
    expect(out[1]!.at - out[0]!.at).toBeGreaterThan(30);
    expect(out[3]!.at - sentAt[7]!).toBeGreaterThan(90);
    expect(out[3]!.at - sentAt[7]!).toBeLessThan(150);
  });

  it('forwards media as one continuous stream across an SSRC change, drops telephone-events, keeps stats', async () => {
    const { endpoint, ffmpeg, phone } = await forwarding();
    const changes: number[] = [];
    endpoint.on('sourceChanged', ({ ssrc }) => changes.push(ssrc));
    const send = (ssrc: number, sequence: number, timestamp: number, payloadType = 0) =>
      phone.socket.send(
        buildRtp({ marker: false, payloadType, sequence, timestamp, ssrc }, Buffer.alloc(160, 0x7f)),
        endpoint.port,
        '127.0.0.1',
      );
    for (let i = 0; i < 10; i++) {
      send(0x1111, 60000 + i, 1000 + i * 160);
      await sleep(2);
    }
    send(0x1111, 60010, 2600, 101); // an RFC 4733 event: counted, not forwarded
    await sleep(20);
    for (let i = 0; i < 10; i++) {
      send(0x2222, 7 + i, 5_000_000 + i * 160);
      await sleep(2);
    }
    await sleep(130); // the last ones held until the peer is quiet (QUIET_MS); silence filled in after is left out
    expect(changes).toEqual([0x2222]);
    const datagrams = ffmpeg.packets.filter((packet) => packet.payload.every((byte) => byte === 0x7f));
    expect(consecutive(datagrams)).toBe(true);
    const out = frames(datagrams);
    expect(out).toHaveLength(20);
    expect(new Set(out.map((p) => p.ssrc)).size).toBe(1);
    expect(out.every((p) => p.payloadType === 0)).toBe(true);
    const steps = out.slice(1).map((p, i) => (p.timestamp - out[i]!.timestamp) >>> 0);
    expect([...steps.slice(0, 9), ...steps.slice(10)]).toEqual(Array(18).fill(160));
    // Across the change, the time between the two packets.
    const tsStep = steps[9]!;
    expect(tsStep).toBeGreaterThan(0);
    expect(tsStep).toBeLessThan(8000);
    const stats = await endpoint.stats();
    expect(stats).toMatchObject({ packets: 21, lost: 0 });
    expect(stats.lastPacketAt).toBeGreaterThan(Date.now() - 1000);
  });

  it('forwards silence to ffmpeg while the peer is quiet, on the same numbering, and stops when it speaks', async () => {
    const { endpoint, ffmpeg, phone } = await forwarding();
    const send = (sequence: number) =>
      phone.socket.send(
        buildRtp(
          { marker: false, payloadType: 0, sequence, timestamp: sequence * 160, ssrc: 0x1234 },
          Buffer.alloc(160, 0x55),
        ),
        endpoint.port,
        '127.0.0.1',
      );
    for (let i = 0; i < 10; i++) {
      send(1000 + i);
      await sleep(20);
    }
    await sleep(400); // a 400 ms gap: hold, loss or a muted phone
    for (let i = 10; i < 20; i++) {
      send(1000 + i);
      await sleep(20);
    }
    await sleep(130); // the last ones held until the peer is quiet (QUIET_MS)
    const silence = frames(ffmpeg.packets).filter((frame) => frame.payload.every((byte) => byte === 0xff));
    const voice = frames(ffmpeg.packets).filter((frame) => frame.payload.every((byte) => byte === 0x55));
    expect(voice).toHaveLength(20);
    // Before the first packet and in the gap: roughly the gap's length in 20 ms frames, none during speech.
    const inGap = silence.filter((packet) => packet.at > voice[9]!.at && packet.at < voice[10]!.at);
    expect(inGap.length).toBeGreaterThanOrEqual(14);
    expect(inGap.length).toBeLessThanOrEqual(21);
    expect(silence.filter((packet) => packet.at > voice[10]!.at + 5 && packet.at < voice[19]!.at)).toHaveLength(0);
    expect(consecutive(ffmpeg.packets.filter((packet) => packet.at >= voice[0]!.at))).toBe(true);
    // The clock runs on through the gap: speech after it is stamped ~(gap + speech) later, not right after.
    const span = (voice[10]!.timestamp - voice[9]!.timestamp) >>> 0;
    expect(span / 8).toBeGreaterThan(380);
    expect(span / 8).toBeLessThan(520);
  });
});
