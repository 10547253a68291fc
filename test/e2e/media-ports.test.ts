/**
 * MEDIA_PORTS (shared/task-env.ts): the media task binds its SIP socket and both RTP/RTCP pairs inside the
 * range, which is all the AWS security group opens (infra/media-task-construct.ts). Checked on the wire: the
 * ports our INVITE names, and the port our RTP comes from.
 */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { TASK_ENV } from '../../shared/task-env.ts';
import { useCleanup } from '../support/cleanup.ts';
import { freeRtpPort } from '../support/free-port.ts';
import { MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { waitFor } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';

const { owned, defer } = useCleanup();
const RANGE = { min: 41000, max: 41099 };

describe('media task with MEDIA_PORTS', () => {
  it('binds SIP and RTP/RTCP inside the range and sends its RTP from there', async () => {
    const port = await freeRtpPort();
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', () => resolve()));
    defer(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    const sources = new Set<number>();
    socket.on('message', (_message, from) => sources.add(from.port));
    const peer = owned(
      await SippPeer.start({ scenario: 'answer-expect-audio-sendrecv.xml', keys: { audio_port: String(port) } }),
    );
    const run = owned(
      await MediaTaskProcess.start(testCallSpec({ hasAudio: true, connection: { sipPort: peer.port } }), {
        [TASK_ENV.mediaPorts]: `${RANGE.min}-${RANGE.max}`,
      }),
    );
    await run.waitForEvent('answered');
    await waitFor(() => sources.size > 0, 5_000, 'our RTP at the peer');
    run.terminate();
    await run.final();
    const [invite] = await peer.received('INVITE ');
    const ports = [
      Number(/^Contact:.*:(\d+)[;>]/im.exec(invite!)?.[1]),
      Number(/^Via: SIP\/2\.0\/UDP [^:]+:(\d+)/im.exec(invite!)?.[1]),
      ...[...invite!.matchAll(/^m=(?:audio|video) (\d+) /gm)].map((match) => Number(match[1])),
      ...sources,
    ];
    expect(ports).toHaveLength(5);
    for (const bound of ports) {
      expect(bound).toBeGreaterThanOrEqual(RANGE.min);
      expect(bound).toBeLessThanOrEqual(RANGE.max);
    }
  });
});
