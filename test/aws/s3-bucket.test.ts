/**
 * The S3 requests of recordings (shared/aws/s3-bucket.ts) and the task's upload after a call
 * (media-task/aws/recording-upload.ts), against an S3 stand-in that checks each SigV4 signature itself.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Bucket, S3RequestError } from '../../shared/aws/s3-bucket.ts';
import { createLogger } from '../../shared/log.ts';
import { uploadRecording } from '../../media-task/aws/recording-upload.ts';
import { FakeS3 } from '../support/fake-s3.ts';

const RECORDING_ID = '3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41';
const KEY = `recordings/${RECORDING_ID}.mp4`;
let s3: FakeS3;
let dir: string;

beforeAll(async () => {
  s3 = await FakeS3.start();
  dir = await mkdtemp(join(tmpdir(), 's3-bucket-'));
});
afterAll(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

function bucket(secretAccessKey = s3.secretAccessKey) {
  return new S3Bucket({
    bucket: 'gw-recordings',
    region: s3.region,
    credentials: async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey, sessionToken: 'session/token+=' }),
    endpoint: s3.endpoint,
  });
}

async function file(name: string, bytes: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(
    path,
    Buffer.alloc(bytes, 7).map((_, i) => i % 251),
  );
  return path;
}

describe('S3Bucket', () => {
  it('PUTs the file, streamed and signed in the header, under the key in the bucket', async () => {
    const path = await file('a.mp4', 300_000);
    s3.requests.length = 0;
    await bucket().put(KEY, path, 'video/mp4');
    const [put] = s3.requests;
    expect(put).toMatchObject({ method: 'PUT', path: `/gw-recordings/${KEY}` });
    expect(put!.headers).toMatchObject({
      'content-type': 'video/mp4',
      'content-length': '300000',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-amz-security-token': 'session/token+=',
    });
    expect(put!.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=[^,]*content-length[^,]*, Signature=[0-9a-f]{64}$/,
    );
    expect(s3.objects.get(`/gw-recordings/${KEY}`)?.equals(put!.body)).toBe(true);
    expect(put!.body.length).toBe(300_000);
  });

  it('is refused when the signature is wrong, without retrying a 403', async () => {
    const path = await file('b.mp4', 10);
    s3.requests.length = 0;
    const error = await bucket('another-secret')
      .put(KEY, path, 'video/mp4')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3RequestError);
    expect((error as S3RequestError).message).toContain('403 SignatureDoesNotMatch');
    expect(s3.requests).toHaveLength(1);
  });

  it('retries a PUT that S3 answered 500, sending the whole file again', async () => {
    const path = await file('c.mp4', 50_000);
    s3.requests.length = 0;
    s3.failNext.push(500);
    await bucket().put(`recordings/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}.mp4`, path, 'video/mp4');
    expect(s3.requests.map((request) => request.body.length)).toEqual([50_000, 50_000]);
  });

  it('pre-signs a GET link that fetches the object until it expires', async () => {
    const path = await file('d.mp4', 1_000);
    await bucket().put(KEY, path, 'video/mp4');
    const now = new Date();
    const link = await bucket().presignGet(KEY, 300, now);
    const url = new URL(link.url);
    expect(url.pathname).toBe(`/gw-recordings/${KEY}`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIDTEST\/\d{8}\/eu-west-1\/s3\/aws4_request$/);
    expect(link.expiresAt).toBe(new Date(now.getTime() + 300_000).toISOString());
    const fetched = await fetch(link.url);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).length).toBe(1_000);

    const tampered = new URL(link.url);
    tampered.pathname = tampered.pathname.replace('.mp4', '.mp3');
    expect((await fetch(tampered)).status).toBe(403);
    const old = await bucket().presignGet(KEY, 60, new Date(Date.now() - 120_000));
    expect((await fetch(old.url)).status).toBe(403);
  });

  it('addresses the bucket virtual-hosted on AWS itself', async () => {
    const aws = new S3Bucket({
      bucket: 'gw-recordings',
      region: 'eu-west-1',
      credentials: async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 'x' }),
    });
    const { url } = await aws.presignGet(KEY, 300);
    expect(url).toMatch(new RegExp(`^https://gw-recordings\\.s3\\.eu-west-1\\.amazonaws\\.com/${KEY}\\?X-Amz-`));
  });
});

describe("the task's upload of a recording", () => {
  const logger = createLogger({ component: 'test' });

  it('uploads under recordings/<id>.mp4, reports the key, and removes the file from the task', async () => {
    const path = await file('e.mp4', 2_000);
    const report = await uploadRecording(bucket(), logger)({ path, bytes: 2_000 }, RECORDING_ID);
    expect(report).toEqual({ state: 'uploaded', bytes: 2_000, key: KEY });
    expect(existsSync(path)).toBe(false);
  });

  it('reports a failed upload as failed, with why, and never throws', async () => {
    const path = await file('f.mp4', 2_000);
    const report = await uploadRecording(bucket('wrong'), logger)({ path, bytes: 2_000 }, RECORDING_ID);
    expect(report).toMatchObject({ state: 'failed', bytes: 2_000 });
    expect(report.error).toContain('SignatureDoesNotMatch');
  });

  it('uploads nothing when nothing was recorded', async () => {
    s3.requests.length = 0;
    const report = await uploadRecording(bucket(), logger)(
      { path: join(dir, 'none.mp4'), bytes: 0, error: 'nothing was recorded' },
      RECORDING_ID,
    );
    expect(report).toEqual({ state: 'failed', bytes: 0, error: 'nothing was recorded' });
    expect(s3.requests).toHaveLength(0);
  });
});
