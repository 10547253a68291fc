/**
 * Recordings through the API: `record` in requests, the server-made recording id, the recording route behind the
 * API key (a local file streamed, or on AWS a redirect to a pre-signed link) and the link in the call view.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app/create-app.ts';
import { RECORDING_LINK_SECONDS, S3RecordingLinks } from '../../functions/adapters/s3-recording-links.ts';
import type { RecordingStore } from '../../functions/core/ports.ts';
import { LocalRecordings } from '../../functions/local/local-recordings.ts';
import { recordEvent } from '../../functions/recorder.ts';
import type { StateEventBody } from '../../shared/call-types.ts';
import { silentLogger } from '../../shared/log.ts';
import { parseStateEvent } from '../../shared/task-messages.ts';
import { FakeLauncher, MemoryCallStore, fakeDns, fixedKeys } from './fakes.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KEY = 'k3y';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recordings-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function body(overrides: Record<string, unknown> = {}) {
  return {
    callee: '10000',
    rtmpUrl: 'rtmp://127.0.0.1:1935/live',
    rtmpStream: `s-${Math.random().toString(36).slice(2)}`,
    connection: { sipLogin: '10000', sipPassword: 'pw', sipDomain: '127.0.0.1' },
    ...overrides,
  };
}

function setup(recordings: RecordingStore = new LocalRecordings(dir)) {
  const store = new MemoryCallStore();
  const launcher = new FakeLauncher();
  const app = createApp({
    store,
    launcher,
    resolveHost: fakeDns(),
    logger: silentLogger,
    apiKeys: fixedKeys(KEY),
    recordings,
  });
  const request = async (method: string, path: string, json?: unknown, auth = true) => {
    const response = await app.request(path, {
      method,
      redirect: 'manual',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${KEY}` } : {}) },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    return response;
  };
  let seq = 100;
  const report = (callId: string, event: StateEventBody) =>
    recordEvent(store, { ...event, callId, seq: ++seq, at: new Date().toISOString() });
  return { store, launcher, request, report };
}

describe('asking for a recording', () => {
  it('gives the task a recording id the server made, keeps it on the record, and shows record: true', async () => {
    const { request, launcher, store } = setup();
    const created = await request('POST', '/v1/calls', body({ callId: 'rec-1', record: 'true' }));
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ callId: 'rec-1', record: true });
    const spec = launcher.launches[0]!.spec;
    expect(spec.record).toBe(true);
    expect(spec.recordingId).toMatch(UUID);
    expect((await store.get('rec-1'))?.spec.recordingId).toBe(spec.recordingId);
  });

  it('answers a retry of the same request with the same call, though its recording id was made anew', async () => {
    const { request } = setup();
    const first = body({ callId: 'rec-retry', record: true });
    expect((await request('POST', '/v1/calls', first)).status).toBe(201);
    expect((await request('POST', '/v1/calls', first)).status).toBe(200);
    expect((await request('POST', '/v1/calls', { ...first, record: false })).status).toBe(409);
  });

  it.each([['/v1/calls'], ['/RESTCall/call']])('refuses a record that is no boolean on %s, naming it', async (path) => {
    const { request, launcher } = setup();
    const answer = await request('POST', path, body({ callId: 'rec-bad', record: 'yes' }));
    expect(answer.status).toBe(400);
    expect((await answer.json()).error).toMatchObject({ field: 'record', message: 'record must be true or false' });
    expect(launcher.calls).toHaveLength(0);
  });
});

describe('GET /v1/calls/{id}/recording, local', () => {
  it('streams the file the task wrote, behind the API key; 404 for an unknown call or one without recording', async () => {
    const { request, launcher, report } = setup();
    await request('POST', '/v1/calls', body({ callId: 'rec-get', record: true }));
    await request('POST', '/v1/calls', body({ callId: 'no-rec' }));
    const recordingId = launcher.launches[0]!.spec.recordingId!;
    expect((await request('GET', '/v1/calls/rec-get/recording')).status).toBe(404); // not written yet
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 256));
    await writeFile(join(dir, `${recordingId}.mp4`), bytes);

    const fetched = await request('GET', '/v1/calls/rec-get/recording');
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('content-type')).toBe('video/mp4');
    expect(fetched.headers.get('content-length')).toBe('5000');
    expect(Buffer.from(await fetched.arrayBuffer()).equals(bytes)).toBe(true);

    const denied = await request('GET', '/v1/calls/rec-get/recording', undefined, false);
    expect(denied.status).toBe(401);
    const unknown = await request('GET', '/v1/calls/nobody/recording');
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('not_found');
    expect((await request('GET', '/v1/calls/no-rec/recording')).status).toBe(404);
    expect((await request('GET', '/v1/calls/bad%20id/recording')).status).toBe(400);

    await report('rec-get', { type: 'ended', by: 'local', reason: 'hangup', durationSeconds: 3 });
    await report('rec-get', { type: 'recording', state: 'saved', bytes: 5000 });
    const view = await (await request('GET', '/v1/calls/rec-get')).json();
    expect(view.recording).toMatchObject({ state: 'saved', bytes: 5000, url: '/v1/calls/rec-get/recording' });
    expect(JSON.stringify(view)).not.toContain(recordingId);
  });

  it('is documented in the OpenAPI document', async () => {
    const { request } = setup();
    const document = await (await request('GET', '/openapi.json', undefined, false)).json();
    const route = document.paths['/v1/calls/{callId}/recording'].get;
    expect(Object.keys(route.responses)).toEqual(expect.arrayContaining(['200', '302', '401', '404']));
    expect(route.responses['200'].content).toHaveProperty('video/mp4');
    const view = document.paths['/v1/calls/{callId}'].get.responses['200'].content['application/json'].schema;
    expect(view.properties.record).toEqual({ type: 'boolean' });
    expect(Object.keys(view.properties.recording.properties)).toEqual(
      expect.arrayContaining(['state', 'bytes', 'url', 'expiresAt']),
    );
  });
});

describe('recordings on AWS', () => {
  const presigned: Array<[string, number]> = [];
  const links = new S3RecordingLinks(
    {
      presignGet: async (key, seconds, now) => {
        presigned.push([key, seconds]);
        return {
          url: `https://gw-recordings.s3.eu-west-1.amazonaws.com/${key}?X-Amz-Signature=abc`,
          expiresAt: new Date(now!.getTime() + seconds * 1000).toISOString(),
        };
      },
    },
    () => new Date('2026-12-01T10:00:00.000Z'),
  );

  it('gives a short-lived pre-signed link once the task reported the upload, and redirects the route to it', async () => {
    const { request, report } = setup(links);
    await request('POST', '/v1/calls', body({ callId: 'rec-aws', record: true }));
    expect((await request('GET', '/v1/calls/rec-aws/recording')).status).toBe(404); // not uploaded yet
    await report('rec-aws', { type: 'ended', by: 'remote', reason: 'BYE', durationSeconds: 9 });
    await report('rec-aws', {
      type: 'recording',
      state: 'uploaded',
      bytes: 9,
      key: 'recordings/3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41.mp4',
    });
    const view = await (await request('GET', '/v1/calls/rec-aws')).json();
    expect(view.recording).toEqual({
      state: 'uploaded',
      bytes: 9,
      at: expect.any(String),
      url: 'https://gw-recordings.s3.eu-west-1.amazonaws.com/recordings/3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41.mp4?X-Amz-Signature=abc',
      expiresAt: '2026-12-01T10:05:00.000Z',
    });
    expect(presigned.at(-1)).toEqual(['recordings/3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41.mp4', RECORDING_LINK_SECONDS]);
    const redirected = await request('GET', '/v1/calls/rec-aws/recording');
    expect(redirected.status).toBe(302);
    expect(redirected.headers.get('location')).toBe(view.recording.url);
    expect((await request('GET', '/v1/calls/rec-aws/recording', undefined, false)).status).toBe(401);
  });

  it('has no link for a recording whose upload failed', async () => {
    const { request, report } = setup(links);
    await request('POST', '/v1/calls', body({ callId: 'rec-lost', record: true }));
    await report('rec-lost', { type: 'ended', by: 'remote', reason: 'BYE', durationSeconds: 9 });
    await report('rec-lost', { type: 'recording', state: 'failed', bytes: 9, error: 'the upload failed: 403' });
    const view = await (await request('GET', '/v1/calls/rec-lost')).json();
    expect(view.recording).toEqual({
      state: 'failed',
      bytes: 9,
      error: 'the upload failed: 403',
      at: expect.any(String),
    });
    expect((await request('GET', '/v1/calls/rec-lost/recording')).status).toBe(404);
  });
});

describe("the task's recording report on the wire (stdout, EventBridge)", () => {
  const base = { type: 'recording', callId: 'c1', seq: 9, at: '2026-12-01T10:00:00.000Z', bytes: 5 };
  it.each([
    [{ state: 'saved' }, true],
    [{ state: 'uploaded', key: 'recordings/3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41.mp4' }, true],
    [{ state: 'failed', error: 'the upload failed: 403 AccessDenied' }, true],
    [{ state: 'uploaded', key: 'other/3f1c2b9a-7d4e-4c1a-9b2f-0e8d7c6b5a41.mp4' }, false],
    [{ state: 'uploaded', key: 'recordings/../secret.mp4' }, false],
    [{ state: 'lost' }, false],
    [{ state: 'failed', error: 'x'.repeat(501) }, false],
  ])('%j: accepted %s', (fields, accepted) => {
    expect(parseStateEvent({ ...base, ...fields }).ok).toBe(accepted);
  });
});
