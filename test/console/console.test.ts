/**
 * The web console in headless Chromium against the real app (fake launcher, no SIP): fill the start form, see the
 * call appear with its state and stats, send DTMF from the keypad, hang it up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/app/create-app.ts';
import { recordEvent } from '../../functions/recorder.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeLauncher, MemoryCallStore, fakeDns, fixedKeys } from '../functions/fakes.ts';

const API_KEY = 'console-test-key';
let server: ServerType;
let browser: BrowserContext;
let page: Page;
let baseUrl: string;
let profileDir: string;
const store = new MemoryCallStore();
const launcher = new FakeLauncher();

beforeAll(async () => {
  const app = createApp({ store, resolveHost: fakeDns(), launcher, logger: silentLogger, apiKeys: fixedKeys(API_KEY) });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  profileDir = mkdtempSync(join(tmpdir(), 'console-chromium-'));
  // A fresh profile per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
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
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

describe('web console', () => {
  it('starts a call from the form, shows it live, sends DTMF and hangs it up', async () => {
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(baseUrl + '/');
    await page.fill('#apiKey', API_KEY);
    await page.dispatchEvent('#apiKey', 'change');

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

    const row = page.locator('tr[data-call-id="Xq2tlLcX89tTjaji"]');
    await row.waitFor();
    await expect.poll(() => row.locator('td.state').textContent()).toBe('dialing');
    expect(launcher.launches[0]!.spec).toMatchObject({
      callee: '10000',
      hasVideo: false,
      connection: { sipPassword: '10000000', sipPort: 5060, appKey: 'callApp' },
    });

    // What the media task would report: answered, streaming, stats.
    const at = new Date(Date.now() - 65_000).toISOString();
    await recordEvent(store, { type: 'answered', callId: 'Xq2tlLcX89tTjaji', seq: 2, at });
    await recordEvent(store, { type: 'streaming', callId: 'Xq2tlLcX89tTjaji', seq: 3, at });
    await recordEvent(store, {
      type: 'stats',
      callId: 'Xq2tlLcX89tTjaji',
      seq: 4,
      at,
      rtpPackets: 3250,
      rtpLost: 2,
      jitterMs: 1.5,
      bytesOut: 100_000,
    });
    await expect.poll(() => row.locator('td.state').textContent()).toBe('streaming');
    await expect.poll(() => row.locator('td').nth(5).textContent()).toBe('3250 pkts, 2 lost, 1.5 ms jitter');
    expect(await row.locator('td').nth(4).textContent()).toMatch(/^1:0\d$/);

    await row.locator('button.select').click();
    await page.click('#keypad button[data-digit="5"]');
    await page.click('#keypad button[data-digit="#"]');
    await expect
      .poll(() => launcher.calls.filter((c) => c.op === 'command').map((c) => c.op === 'command' && c.command))
      .toEqual([
        { type: 'dtmf', digits: '5' },
        { type: 'dtmf', digits: '#' },
      ]);

    await row.locator('button.hangup').click();
    await expect.poll(() => launcher.calls.some((c) => c.op === 'stop' && c.callId === 'Xq2tlLcX89tTjaji')).toBe(true);
    await expect.poll(() => row.locator('td.state').textContent()).toBe('streaming (hanging up)');
    await recordEvent(store, {
      type: 'ended',
      callId: 'Xq2tlLcX89tTjaji',
      seq: 5,
      at: new Date().toISOString(),
      by: 'local',
      reason: 'hangup',
      durationSeconds: 65,
    });
    await expect.poll(() => row.count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('shows the API error of a refused start', async () => {
    await page.goto(baseUrl + '/');
    await page.fill('[name=callee]', '10000');
    await page.fill('[name=rtmpUrl]', 'rtmp://169.254.169.254/live');
    await page.fill('[name=rtmpStream]', 'x');
    await page.fill('[name=sipLogin]', '10000');
    await page.fill('[name=sipDomain]', 'pbx.example.com');
    await page.click('#startButton');
    await expect.poll(() => page.textContent('#message')).toMatch(/rtmpUrl must not target link-local/);
    expect(await page.getAttribute('#message', 'class')).toBe('error');
  });

  it('serves the page with a CSP that allows only its own script', async () => {
    const response = await fetch(baseUrl + '/');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(baseUrl + '/console/app.js')).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(baseUrl + '/v1/calls')).status).toBe(401);
  });
});
