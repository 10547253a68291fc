/**
 * The media task as ECS runs it (EVENT_SINK=eventbridge, RECORDING_BUCKET), its AWS services stood in for on
 * 127.0.0.1 through the SDK's endpoint variables: an EventBridge that takes PutEvents, and an S3 that checks
 * signatures (test/support/fake-s3.ts). A sipp tone call, recorded: its state events go to the bus, its figures
 * come out of stdout as EMF lines, and its recording is uploaded after the call.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATE_EVENT_DETAIL_TYPE, STATE_EVENT_SOURCE } from '../../shared/aws/eventbridge-publisher.ts';
import { METRICS_NAMESPACE, TASK_METRIC } from '../../shared/aws/emf.ts';
import type { StateEvent } from '../../shared/call-types.ts';
import { TASK_ENV } from '../../shared/task-env.ts';
import { useCleanup } from '../support/cleanup.ts';
import { emfProblems } from '../support/emf.ts';
import { FakeS3 } from '../support/fake-s3.ts';
import { measureTone, probe } from '../support/media-check.ts';
import { makeToneWav, MediaTaskProcess, testCallSpec } from '../support/media-task.ts';
import { NginxRtmp } from '../support/nginx-rtmp.ts';
import { SippPeer } from '../support/sipp.ts';

/** EventBridge's PutEvents (AWS JSON 1.1), every entry kept. */
class FakeEventBridge {
  readonly entries: Array<{ Source: string; DetailType: string; Detail: string; EventBusName: string }> = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeEventBridge> {
    let bus: FakeEventBridge | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const target = request.headers['x-amz-target'];
        const { Entries = [] } = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        bus!.entries.push(...Entries);
        response.writeHead(target === 'AWSEvents.PutEvents' ? 200 : 400, {
          'content-type': 'application/x-amz-json-1.1',
        });
        response.end(
          JSON.stringify({
            FailedEntryCount: 0,
            Entries: Entries.map((_: unknown, i: number) => ({ EventId: `e${i}` })),
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    bus = new FakeEventBridge(server);
    return bus;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  events(): StateEvent[] {
    return this.entries
      .filter((entry) => entry.Source === STATE_EVENT_SOURCE && entry.DetailType === STATE_EVENT_DETAIL_TYPE)
      .map((entry) => JSON.parse(entry.Detail) as StateEvent);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let dir: string;
let scratch: string;
let nginx: NginxRtmp;
let s3: FakeS3;
let bus: FakeEventBridge;
const { owned } = useCleanup();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'task-on-aws-'));
  scratch = await mkdtemp(join(tmpdir(), 'task-scratch-'));
  await makeToneWav(join(dir, 'tone-1khz.wav'));
  [nginx, s3, bus] = await Promise.all([NginxRtmp.start(), FakeS3.start(), FakeEventBridge.start()]);
});

afterAll(async () => {
  await Promise.all([nginx?.stop(), s3?.close(), bus?.close()]);
  await rm(dir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

describe('the media task on AWS', () => {
  it('prints its figures as EMF on stdout, sends its events to the bus, and uploads the recording', async () => {
    const peer = owned(
      await SippPeer.start({ scenario: 'uas-tone.xml', media: true, cwd: dir, keys: {}, timeoutSeconds: 40 }),
    );
    const recordingId = randomUUID();
    const spec = testCallSpec({
      rtmpUrl: nginx.url,
      rtmpStream: 'aws1',
      record: true,
      recordingId,
      connection: { sipPort: peer.port },
    });
    const task = owned(
      await MediaTaskProcess.start(spec, {
        [TASK_ENV.eventSink]: 'eventbridge',
        [TASK_ENV.eventBusName]: 'gw-calls',
        [TASK_ENV.recordingBucket]: 'gw-recordings',
        [TASK_ENV.gatewayName]: 'gw-e2e',
        AWS_REGION: s3.region,
        AWS_ACCESS_KEY_ID: 'AKIDTEST',
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_ENDPOINT_URL_EVENTBRIDGE: bus.endpoint,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        TMPDIR: scratch,
      }),
    );
    const started = Date.now();
    while (!bus.events().some((event) => event.type === 'streaming')) {
      if (Date.now() - started > 15_000) throw new Error(`no streaming; ${task.logLines.slice(-10).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    task.terminate();
    await task.exited;

    // The bus has the call, then what became of its recording.
    const events = bus.events();
    const types = events.filter((event) => event.type !== 'stats').map((event) => event.type);
    expect(types).toEqual(['dialing', 'ringing', 'answered', 'streaming', 'ended', 'recording']);
    const key = `recordings/${recordingId}.mp4`;
    const report = events.find((event) => event.type === 'recording');
    expect(report).toMatchObject({ state: 'uploaded', key });

    // Stdout carries EMF lines only (the events went to the bus), each a document CloudWatch takes.
    const documents = task.events as unknown as any[];
    expect(documents.length).toBeGreaterThanOrEqual(2);
    for (const document of documents) {
      expect(emfProblems(document)).toEqual([]);
      expect(document._aws.CloudWatchMetrics).toEqual([
        expect.objectContaining({ Namespace: METRICS_NAMESPACE, Dimensions: [['Gateway']] }),
      ]);
      expect(document.Gateway).toBe('gw-e2e');
      expect(JSON.stringify(document)).not.toContain(spec.callId);
    }
    // Counters went as what grew: summed over the lines, they are the call's totals.
    const sum = (name: string) => documents.reduce((total, document) => total + document[name], 0);
    const lastStats = events.filter((event) => event.type === 'stats').at(-1)!;
    expect(lastStats.type === 'stats' && lastStats.rtpPackets).toBeGreaterThan(200);
    expect(sum(TASK_METRIC.rtpPackets)).toBe(lastStats.type === 'stats' && lastStats.rtpPackets);
    // The last line comes once the publishers stopped, their last bytes (the FLV's end) counted too.
    expect(sum(TASK_METRIC.bytesOut)).toBeGreaterThanOrEqual(lastStats.type === 'stats' ? lastStats.bytesOut : NaN);
    expect(sum(TASK_METRIC.recordingBytes)).toBe(report!.type === 'recording' && report!.bytes);

    // The object in the bucket is the recording, and the task's scratch copy is gone.
    const object = s3.objects.get(`/gw-recordings/${key}`);
    expect(object?.length).toBe(report!.type === 'recording' && report!.bytes);
    const copy = join(dir, 'uploaded.mp4');
    await writeFile(copy, object!);
    const probed = await probe(copy);
    expect(probed.streams.map((stream) => stream.codec)).toEqual(['aac']);
    expect(probed.durationSeconds).toBeGreaterThan(4);
    expect((await measureTone(copy)).frequencyHz).toBeGreaterThan(950);
    expect(await readdir(scratch)).not.toContain(`${recordingId}.mp4`);
  });
});
