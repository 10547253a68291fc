/**
 * The web console in headless Chromium against the real app (fake launcher, no SIP): what the media task would
 * report is recorded into the store as the recorder would, and the page must show it. With CONSOLE_SCREENSHOTS
 * set to a directory, the live list, a call page and the history are saved there as PNGs, to be looked at.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app/create-app.ts';
import { FAILURE_WORDS } from '../../functions/console/web/format.js';
import { recordEvent } from '../../functions/recorder.ts';
import type { StateEventBody } from '../../shared/call-types.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeLauncher, MemoryCallStore, fakeDns, fixedKeys } from '../functions/fakes.ts';

const API_KEY = 'console-test-key';
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS;
let server: ServerType;
let browser: BrowserContext;
let page: Page;
let baseUrl: string;
let profileDir: string;
let store: MemoryCallStore;
let launcher: FakeLauncher;
let errors: string[];

beforeAll(async () => {
  // One app for the whole file; each test empties the store and the launcher's log it reads.
  store = new MemoryCallStore();
  launcher = new FakeLauncher();
  const app = createApp({ store, resolveHost: fakeDns(), launcher, logger: silentLogger, apiKeys: fixedKeys(API_KEY) });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  profileDir = mkdtempSync(join(tmpdir(), 'console-chromium-'));
  // A fresh profile per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 760 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  // A CSP violation (an inline style, a script from elsewhere) is reported on the console.
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
});

beforeEach(() => {
  store.records.clear();
  launcher.calls.length = 0;
  errors = [];
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

/** The console at `hash`, with the API key typed in an earlier visit (kept in the tab's sessionStorage). */
async function openConsole(hash = '#/') {
  // A page of the same origin that runs no script: the key is in place before the console first asks the API.
  await page.goto(`${baseUrl}/console/console.css`);
  await page.evaluate((key) => sessionStorage.setItem('apiKey', key), API_KEY);
  await page.goto(`${baseUrl}/${hash}`);
}

/** Starts a call through the API, as a script would; `secondsAgo` moves its creation back in time. */
async function startCall(callId: string, callee = '10000', secondsAgo = 0) {
  const response = await fetch(`${baseUrl}/v1/calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      callId,
      callee,
      rtmpUrl: 'rtmp://live.example.com:1935/app',
      rtmpStream: `key-${callId}`,
      connection: { sipLogin: '10000', sipPassword: 'secret', sipDomain: 'pbx.example.com' },
    }),
  });
  expect(response.status).toBe(201);
  if (secondsAgo === 0) return;
  const record = (await store.get(callId))!;
  const createdAt = new Date(Date.now() - secondsAgo * 1000).toISOString();
  await store.update({ ...record, createdAt, stateTimes: { dialing: createdAt } }, record.version);
}

/** What a media task reports for its call, in order, as the recorder applies it. */
function task(callId: string) {
  let seq = 1;
  return (body: StateEventBody, secondsAgo: number) =>
    recordEvent(store, { ...body, callId, seq: ++seq, at: new Date(Date.now() - secondsAgo * 1000).toISOString() });
}

/**
 * A call answered `seconds` ago and streaming since, with a stats event every 10 s as the task sends them: about
 * 130 kbit/s out, a burst of loss at one point, speech-like levels.
 */
async function streamingCall(callId: string, seconds: number, callee?: string) {
  await startCall(callId, callee, seconds + 6);
  const report = task(callId);
  await report({ type: 'ringing' }, seconds + 4);
  await report({ type: 'answered' }, seconds);
  await report({ type: 'streaming' }, seconds - 1);
  let packets = 0;
  let lost = 0;
  let bytes = 0;
  for (let ago = seconds - 11, i = 0; ago >= 0; ago -= 10, i++) {
    packets += 500;
    lost += i === 5 ? 12 : i % 4 === 0 ? 1 : 0;
    bytes += 160_000 + ((i * 7919) % 9) * 1_000;
    await report(
      {
        type: 'stats',
        rtpPackets: packets,
        rtpLost: lost,
        jitterMs: 2.4,
        bytesOut: bytes,
        audioLevelDb: -22 + ((i * 37) % 11) - (i === 7 ? 30 : 0),
        destinations: [
          { url: 'rtmp://live.example.com:1935/app', state: 'live', reconnects: 0, bytesOut: bytes },
          {
            url: 'rtmps://backup.example.net/live',
            state: i > 8 ? 'retrying' : 'live',
            reconnects: i > 8 ? 2 : 0,
            bytesOut: Math.round(bytes * 0.6),
            ...(i > 8 ? { lastError: 'Connection refused' } : {}),
          },
        ],
      },
      ago,
    );
  }
}

async function screenshot(name: string) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
}

/** Waits for what the page shows after its next poll of the API (every 2 s), or for what it caused. */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });

const dtmfSent = () => launcher.calls.flatMap((call) => (call.op === 'command' ? [call.command] : []));

describe('web console: live calls', () => {
  it('asks for the API key, then starts a call from the form and shows it with its state as a badge', async () => {
    await openConsole();
    await page.evaluate(() => sessionStorage.clear());
    await page.reload();
    await poll(() => page.textContent('#message')).toBe('missing or wrong API key');
    await page.fill('#apiKey', API_KEY);
    await page.dispatchEvent('#apiKey', 'change');
    await poll(() => page.textContent('#message')).toBe('');
    expect(errors.splice(0)).toEqual([expect.stringMatching(/status of 401/)]);
    await page.click('#startPanel summary');
    // The fields of the seed REST client, with the article's example values.
    await page.fill('[name=callId]', 'Xq2tlLcX89tTjaji');
    await page.fill('[name=callee]', '10000');
    await page.fill('[name=rtmpUrl]', 'rtmp://45.101.139.105:1935/live');
    await page.fill('[name=rtmpStream]', 'lifestream1');
    await page.fill('[name=sipLogin]', '10000');
    await page.fill('[name=sipPassword]', '10000000');
    await page.fill('[name=sipAuthenticationName]', '10000');
    await page.fill('[name=sipDomain]', '162.255.36.11');
    await page.fill('[name=sipPort]', '5060');
    await page.click('#startButton');

    const badge = page.locator('tr[data-call-id="Xq2tlLcX89tTjaji"] .badge');
    await poll(() => badge.textContent()).toBe('dialing');
    expect(await badge.getAttribute('class')).toBe('badge badge-dialing');
    expect(launcher.launches[0]!.spec).toMatchObject({
      callee: '10000',
      hasVideo: false,
      connection: { sipPassword: '10000000', sipPort: 5060, appKey: 'callApp' },
    });
    expect(errors).toEqual([]);
  });

  it('shows a streaming call with a ticking duration, sparklines of its stats and its audio level', async () => {
    await streamingCall('studio-interview', 185, '442079460958');
    await streamingCall('morning-show', 64, '2001');
    await startCall('listener-line', '3003');
    await task('listener-line')({ type: 'ringing' }, 2);
    await openConsole();

    const row = page.locator('tr[data-call-id="studio-interview"]');
    await poll(() => row.locator('.badge').textContent()).toBe('streaming');
    expect(await row.locator('.badge').getAttribute('class')).toBe('badge badge-streaming');
    expect(await page.locator('tr[data-call-id="listener-line"] .badge').getAttribute('class')).toBe(
      'badge badge-ringing',
    );
    // Seconds since the answer, moving on while the page is open.
    const duration = row.locator('.cell-duration');
    const first = await duration.textContent();
    expect(first).toMatch(/^3:0[5-9]$/);
    await poll(() => duration.textContent()).not.toBe(first);

    // One point per stats event since streaming (every 10 s over 185 s), drawn inline.
    const bitrate = row.locator('svg.spark-bitrate');
    expect(await bitrate.getAttribute('data-points')).toBe('18');
    expect((await bitrate.locator('polyline').getAttribute('points'))!.split(' ')).toHaveLength(18);
    expect(await row.locator('svg.spark-loss').getAttribute('data-points')).toBe('18');
    expect(await row.locator('.cell-bitrate .trend-value').textContent()).toMatch(/^1\d\d kbit\/s$/);
    const view = await (await fetch(`${baseUrl}/v1/calls/studio-interview`, { headers: auth() })).json();
    const level = view.stats.audioLevelDb as number;
    expect(Number(await row.locator('meter').getAttribute('value'))).toBe(level);
    expect(await row.locator('.level-text').textContent()).toBe(`${level.toFixed(1)} dBFS`);
    expect(await row.locator('.cell-server').textContent()).toBe('live.example.com:1935 +1');
    // The stream key, often the broadcast's secret, is not on the list.
    expect(await page.textContent('#calls')).not.toContain('key-studio-interview');

    await screenshot('console-live.png');
    expect(errors).toEqual([]);
  });

  it('hangs a call up from its row', async () => {
    await streamingCall('to-hang-up', 30);
    await openConsole();
    const row = page.locator('tr[data-call-id="to-hang-up"]');
    await row.locator('button.hangup').click();
    await poll(() => launcher.calls.some((c) => c.op === 'stop' && c.callId === 'to-hang-up')).toBe(true);
    await poll(() => row.locator('.badge').textContent()).toBe('streaming · hanging up');
    expect(await row.locator('button.hangup').isDisabled()).toBe(true);
    await recordEvent(store, {
      type: 'ended',
      callId: 'to-hang-up',
      seq: 99,
      at: new Date().toISOString(),
      by: 'local',
      reason: 'hangup',
      durationSeconds: 30,
    });
    await poll(() => row.count()).toBe(0);
  });

  it('shows the API error of a refused start', async () => {
    await openConsole();
    await page.click('#startPanel summary');
    await page.fill('[name=callee]', '10000');
    await page.fill('[name=rtmpUrl]', 'rtmp://169.254.169.254/live');
    await page.fill('[name=rtmpStream]', 'x');
    await page.fill('[name=sipLogin]', '10000');
    await page.fill('[name=sipDomain]', 'pbx.example.com');
    await page.click('#startButton');
    await poll(() => page.textContent('#message')).toMatch(/rtmpUrl must not target link-local/);
    expect(await page.getAttribute('#message', 'class')).toBe('error');
  });
});

const auth = () => ({ authorization: `Bearer ${API_KEY}` });

describe('web console: a call page', () => {
  it('shows the timeline with times, the destinations, the level; its keypad sends DTMF; it hangs up', async () => {
    await streamingCall('studio-interview', 185, '442079460958');
    await openConsole('#/calls/studio-interview');
    await poll(() => page.locator('#callTitle .badge').textContent()).toBe('streaming');

    const step = (state: string) => page.locator(`#timeline li[data-state="${state}"]`);
    for (const state of ['dialing', 'ringing', 'answered', 'streaming']) {
      expect(await step(state).getAttribute('class')).toContain('done');
      expect(await step(state).locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    expect(await step('ended').getAttribute('class')).toContain('pending');
    const record = (await store.get('studio-interview'))!;
    const answeredAfter = (Date.parse(record.stateTimes.answered!) - Date.parse(record.stateTimes.dialing!)) / 1000;
    expect(await step('answered').locator('.offset').textContent()).toBe(`+${Math.round(answeredAfter * 10) / 10} s`);

    const destinations = page.locator('#destinations tbody tr');
    expect(await destinations.count()).toBe(2);
    expect(await destinations.nth(1).locator('td').allTextContents()).toEqual([
      'rtmps://backup.example.net/live',
      'retrying',
      '2',
      expect.stringMatching(/ MB$/),
      'Connection refused',
    ]);
    expect(await page.locator('#level meter').getAttribute('value')).toBe(String(record.stats!.audioLevelDb));
    expect(await page.locator('#trends svg.spark-level').getAttribute('data-points')).toBe('18');
    expect(await page.locator('#outcome').isHidden()).toBe(true);
    await screenshot('console-call.png');

    await page.click('#keypad button[data-digit="5"]');
    await page.click('#keypad button[data-digit="#"]');
    await poll(dtmfSent).toEqual([
      { type: 'dtmf', digits: '5' },
      { type: 'dtmf', digits: '#' },
    ]);
    await poll(() => page.textContent('#message')).toBe('sent # to studio-interview');

    await page.click('#hangupButton');
    await poll(() => launcher.calls.some((c) => c.op === 'stop' && c.callId === 'studio-interview')).toBe(true);
    await poll(() => page.locator('#callTitle .badge').textContent()).toBe('streaming · hanging up');
    await task('studio-interview')({ type: 'ended', by: 'local', reason: 'hangup', durationSeconds: 186 }, 0);
    await poll(() => step('ended').getAttribute('class')).toContain('done');
    expect(await page.textContent('#outcome .headline')).toBe('Hung up from here.');
    expect(await page.locator('#keypad button').first().isDisabled()).toBe(true);
    expect(await page.locator('#hangupButton').isDisabled()).toBe(true);
    expect(errors).toEqual([]);
  });

  it('says why a call failed in words, and shows what the task said as text, never as markup', async () => {
    await startCall('busy-line', '10000', 10);
    const report = task('busy-line');
    await report({ type: 'ringing' }, 8);
    const hostile = '486 Busy Here <img src=x onerror="document.title=\'pwned\'">';
    await report({ type: 'failed', reason: 'sip', sipCode: 486, message: hostile }, 5);
    await openConsole('#/calls/busy-line');
    await poll(() => page.textContent('#outcome .headline')).toBe(FAILURE_WORDS.sip);
    expect(await page.textContent('#outcome .detail')).toBe(`SIP 486: ${hostile}`);
    expect(await page.locator('#outcome img').count()).toBe(0);
    expect(await page.title()).not.toBe('pwned');
    const step = (state: string) => page.locator(`#timeline li[data-state="${state}"]`);
    expect(await step('failed').getAttribute('class')).toContain('done');
    expect(await step('answered').getAttribute('class')).toContain('pending');
    expect(await page.locator('#keypad button[data-digit="1"]').isDisabled()).toBe(true);
  });
});

describe('web console: history and usage', () => {
  it('lists finished calls filtered by state and creation time, with the usage of the range', async () => {
    for (const callId of ['done-1', 'done-2', 'old-one']) {
      await streamingCall(callId, 40);
      await task(callId)({ type: 'ended', by: 'remote', reason: 'bye', durationSeconds: 40 }, 0);
    }
    await startCall('refused');
    await task('refused')({ type: 'failed', reason: 'auth', message: '403 Forbidden', sipCode: 403 }, 0);
    await startCall('still-live');
    // Three days ago: outside the default range (the last day).
    const old = (await store.get('old-one'))!;
    const daysEarlier = (iso: string) => new Date(Date.parse(iso) - 3 * 86_400_000).toISOString();
    const stateTimes = Object.fromEntries(
      Object.entries(old.stateTimes).map(([state, at]) => [state, daysEarlier(at)]),
    );
    await store.update({ ...old, createdAt: daysEarlier(old.createdAt), stateTimes }, old.version);

    await openConsole('#/history');
    const listed = () =>
      page.locator('#finishedCalls tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-call-id')));
    await poll(async () => (await listed()).sort()).toEqual(['done-1', 'done-2', 'refused']);
    expect(await page.textContent('[data-figure=calls] .figure-value')).toBe('3');
    // Per API key: every call here came with the console's one key, `default`.
    expect(await page.locator('table.by-key tbody tr').evaluateAll((rows) => rows.map((r) => r.textContent))).toEqual([
      expect.stringMatching(/^default3/),
    ]);
    expect(await page.locator('tr[data-call-id="refused"] .outcome-cell').textContent()).toContain(FAILURE_WORDS.auth);

    await page.selectOption('[name=state]', 'failed');
    await page.click('#historyButton');
    await poll(listed).toEqual(['refused']);

    await page.selectOption('[name=state]', '');
    await page.fill('[name=from]', localInput(new Date(Date.now() - 5 * 86_400_000)));
    await page.fill('[name=to]', localInput(new Date(Date.now() - 86_400_000)));
    await page.click('#historyButton');
    await poll(listed).toEqual(['old-one']);
    expect(await page.textContent('[data-figure=calls] .figure-value')).toBe('1');
    expect(await page.textContent('[data-figure=mediaSeconds] .figure-value')).toMatch(/^0:[34]\d$/);

    await page.fill('[name=from]', localInput(new Date(Date.now() - 5 * 86_400_000)));
    await page.fill('[name=to]', '');
    await page.click('#historyButton');
    await poll(async () => (await listed()).length).toBe(4);
    await screenshot('console-history.png');
    expect(errors).toEqual([]);
  });
});

describe('web console: what the server sends', () => {
  it('serves page, modules and style with a CSP that allows only its own scripts and styles; the API needs the key', async () => {
    const response = await fetch(baseUrl + '/');
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy');
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self';");
    expect(csp).not.toContain('unsafe-inline');
    for (const [path, type] of [
      ['/console/app.js', /^text\/javascript/],
      ['/console/format.js', /^text\/javascript/],
      ['/console/console.css', /^text\/css/],
    ] as const) {
      const file = await fetch(baseUrl + path);
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toMatch(type);
    }
    for (const path of ['/console/index.html', '/console/..%2Fconsole-routes.ts', '/console/nope.js']) {
      expect((await fetch(baseUrl + path)).status).toBe(404);
    }
    expect((await fetch(baseUrl + '/v1/calls')).status).toBe(401);
  });
});

/** A datetime-local input's value (local time, to the second). */
function localInput(date: Date) {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

describe('web console: in a bundle', () => {
  it('is served from web/ beside an esbuild bundle, as the API Lambda carries it (infra/gateway-function.ts)', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'console-bundle-'));
    try {
      const root = fileURLToPath(new URL('../..', import.meta.url));
      await build({
        stdin: {
          contents:
            "import { OpenAPIHono } from '@hono/zod-openapi'; import { mountConsole } from './functions/console/console-routes.ts';" +
            'const app = new OpenAPIHono(); mountConsole(app); export default app;',
          resolveDir: root,
          loader: 'ts',
        },
        bundle: true,
        format: 'esm',
        platform: 'node',
        minify: true,
        outfile: join(outdir, 'index.mjs'),
        logLevel: 'warning',
      });
      cpSync(join(root, 'functions/console/web'), join(outdir, 'web'), { recursive: true });
      const bundled = (await import(join(outdir, 'index.mjs'))).default as {
        request: (path: string) => Promise<Response>;
      };
      const page = await bundled.request('/');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="/console/app.js">');
      expect((await bundled.request('/console/app.js')).status).toBe(200);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
