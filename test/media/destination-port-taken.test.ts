/** A republisher whose relay port another process took must ask for new ports, not retry the same one forever. */
import { createSocket } from 'node:dgram';
import { expect, it } from 'vitest';
import { silentLogger } from '../../shared/log.ts';
import { Destination } from '../../media-task/pipeline/destination.ts';
import { buildRepublisherArgs } from '../../media-task/pipeline/relay-args.ts';
import { ffmpegLauncher } from '../../media-task/pipeline/spare-encoder.ts';
import { useCleanup } from '../support/cleanup.ts';
import { freePort } from '../support/free-port.ts';
import { taskFfmpegPath } from '../support/media-task-bundle.ts';

const { owned, defer } = useCleanup();

it('emits portTaken when its relay port is already bound', async () => {
  const port = await freePort();
  const squatter = createSocket('udp4');
  await new Promise<void>((resolve) => squatter.bind(port, '127.0.0.1', resolve));
  defer(() => new Promise((resolve) => squatter.close(() => resolve(undefined))));
  const args = (target: string, joinMidStream: boolean) =>
    buildRepublisherArgs({ relayPort: port, target, video: 'none', inputTimeoutMs: 5_000, joinMidStream });
  const publisher = { name: 'ffmpeg republisher', isEncoder: false, args };
  const destination = new Destination({
    output: { rtmpUrl: 'rtmp://127.0.0.1:1/live', rtmpStream: 'taken' },
    publisher,
    launch: ffmpegLauncher(await taskFfmpegPath()),
    logger: silentLogger,
  });
  owned({ close: () => destination.stop() });
  const taken = new Promise<{ error: string }>((resolve) => destination.on('portTaken', resolve));
  await destination.start();
  expect((await taken).error).toMatch(/Address already in use/);
  expect(destination.status().state).not.toBe('retrying');
});
