/**
 * A real SIP user agent (baresip 1.0) for tests: it answers (or places) calls with a sine tone (default 1 kHz) as its
 * microphone and, optionally, fakevideo as its camera, and is remote-controlled over ctrl_tcp.
 *
 * How it is configured, and why:
 * - One fresh temp dir per instance holds `config` (rendered from test/fixtures/baresip/config.tpl) and
 *   `accounts`; baresip runs as `baresip -f <dir>` with stdin on /dev/null (no stdio/cons UI module, so no tty).
 * - Everything binds 127.0.0.1: `sip_listen` (UDP+TCP on the SIP port; this build also opens SIP TLS on port + 1,
 *   so both are reserved), `net_interface 127.0.0.1` (so SDP says c=IN IP4 127.0.0.1), `rtp_ports` a small range
 *   starting at a free even port, `ctrl_tcp_listen` on its own free port.
 * - No sound card: `audio_source ausine,<Hz>` (ausine only produces 48 kHz stereo, hence `ausrc_srate 48000` /
 *   `ausrc_channels 2`; baresip resamples to the codec) and `audio_player aubridge,<unused device>` as a sink.
 * - `menu.so` is loaded only for its commands (dial, hangup, accept, hold, resume, sndcode, ...); `statmode_default
 *   off` stops the per-second status line. The modules list never includes alsa/pulse/gst/stdio.
 * - ctrl_tcp speaks netstrings (`<len>:<json>,`): we send `{"command","params","token"}` and get back
 *   `{"response":true,"ok","data","token"}`, and unsolicited `{"event":true,"type":"CALL_ESTABLISHED",...}`.
 * - `answermode=auto` on the account makes it pick up incoming calls at once; `regint=0` unless `register` is given,
 *   in which case the AOR is `sip:<username>@<registrar host:port>` with `auth_pass` (digest, MD5), created with the
 *   `uanew` command after ctrl_tcp is connected so that REGISTERING/REGISTER_OK are not missed.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { freePort, freeRtpPort } from './free-port.ts';

const CONFIG_TEMPLATE = fileURLToPath(new URL('../fixtures/baresip/config.tpl', import.meta.url));
const MODULE_PATH = '/usr/lib/baresip/modules';
const RTP_RANGE = 20;

export type BaresipAudioCodec = 'g711' | 'g722' | 'opus';

export interface BaresipOptions {
  /** SIP port on 127.0.0.1 (UDP+TCP; TLS takes port + 1). Default: a free port whose port + 1 is free too. */
  sipPort?: number;
  /** User part of the local AOR when not registering. Default 'baresip'. */
  username?: string;
  /** Only 'ausine' exists: a sine tone (see `sineHz`). */
  audio?: 'ausine';
  /** ausine frequency, 10..20000 Hz. Default 1000. */
  sineHz?: number;
  /** Load fakevideo (source + display) and VP8, so a video m-line is answered. Default false. */
  video?: boolean;
  /** Audio codec modules, in preference order. Default ['g711'] (PCMU, PCMA). */
  codecs?: BaresipAudioCodec[];
  /** Register to a registrar (e.g. our kamailio) with digest auth. */
  register?: { registrar: string; username: string; password: string; expiresSeconds?: number };
  /** answermode=auto (default true) or manual (then `command('accept')`). */
  autoAnswer?: boolean;
  /** Extra `;name=value` account parameters appended verbatim. */
  accountParams?: string;
  /** Pass -v (debug) and -s (SIP trace) to baresip; the lines are in `logs()`. */
  verbose?: boolean;
  readyTimeoutMs?: number;
}

/** One ctrl_tcp event. `type` is e.g. CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED, CALL_CLOSED,
 * CALL_DTMF_START, CALL_DTMF_END, REGISTER_OK, REGISTER_FAIL, CALL_REMOTE_SDP, CALL_LOCAL_SDP. */
export interface BaresipEvent {
  type: string;
  class?: string;
  accountaor?: string;
  direction?: string;
  peeruri?: string;
  /** The call id (SIP Call-ID) for call events. */
  id?: string;
  /** Event parameter: the DTMF key for CALL_DTMF_START, the reason for CALL_CLOSED, "offer"/"answer" for SDP. */
  param?: string;
  /** Milliseconds since the peer started, when we received it. */
  at: number;
  raw: Record<string, unknown>;
}

export interface BaresipResponse {
  ok: boolean;
  data: string;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Only consider events at or after this index of `events` (default 0: history counts). */
  since?: number;
}

export interface BaresipPeer {
  readonly port: number;
  /** Where to send an INVITE: `sip:<user>@127.0.0.1:<port>`. */
  readonly uri: string;
  /** The account AOR (the registered AOR when `register` was given). */
  readonly aor: string;
  readonly ctrlPort: number;
  readonly configDir: string;
  /** Every event received so far, in order. */
  readonly events: readonly BaresipEvent[];
  /** Runs a menu/ctrl command, e.g. command('dial', 'sip:x@127.0.0.1:5060'); rejects if ok is false. */
  command(command: string, params?: string): Promise<BaresipResponse>;
  /** First event (from `since`) that matches a type or predicate; rejects after timeoutMs (default 10 s). */
  waitForEvent(match: string | ((event: BaresipEvent) => boolean), options?: WaitOptions): Promise<BaresipEvent>;
  /** With `register`: resolves on the first REGISTER_OK, rejects on REGISTER_FAIL or timeout. */
  waitForRegistration(timeoutMs?: number): Promise<void>;
  dial(uri: string): Promise<BaresipResponse>;
  accept(): Promise<BaresipResponse>;
  hangup(): Promise<BaresipResponse>;
  /** Sends RFC 4733 telephone-events for each of 0-9 * # A-D in the current call (menu `sndcode`). */
  sendDtmf(digits: string): Promise<BaresipResponse>;
  /** re-INVITE a=sendonly / back to sendrecv (menu `hold` / `resume`). */
  hold(): Promise<BaresipResponse>;
  resume(): Promise<BaresipResponse>;
  /** The last lines baresip printed (stdout and stderr, ANSI colours stripped). */
  logs(): string[];
  close(): Promise<void>;
}

export async function startBaresip(options: BaresipOptions = {}): Promise<BaresipPeer> {
  const sineHz = options.sineHz ?? 1000;
  if (!Number.isInteger(sineHz) || sineHz < 10 || sineHz > 20000)
    throw new Error('sineHz must be an integer 10..20000');
  const sipPort = options.sipPort ?? (await freeSipPortPair());
  let ctrlPort = await freePort();
  while (ctrlPort === sipPort + 1 || ctrlPort === sipPort) ctrlPort = await freePort();
  const rtpMin = await freeRtpPort();

  const codecs = options.codecs ?? ['g711'];
  const modules = [...codecs.map((codec) => `${codec}.so`), 'ausine.so', 'aubridge.so'];
  if (options.video) modules.push('fakevideo.so', 'vp8.so');
  const template = await readFile(CONFIG_TEMPLATE, 'utf8');
  const config = render(template, {
    SIP_PORT: String(sipPort),
    CTRL_PORT: String(ctrlPort),
    SINE_HZ: String(sineHz),
    VIDEO_SIZE: '352x288',
    VIDEO_FPS: '15',
    RTP_MIN: String(rtpMin),
    RTP_MAX: String(rtpMin + RTP_RANGE - 1),
    MODULE_PATH,
    MODULES: modules.map((name) => `module\t\t\t${name}`).join('\n'),
  });
  const dir = await mkdtemp(join(tmpdir(), 'baresip-'));
  await writeFile(join(dir, 'config'), config + 'statmode_default\toff\n');

  const answermode = options.autoAnswer === false ? 'manual' : 'auto';
  let aor: string;
  let account: string;
  let uri: string;
  if (options.register) {
    const { registrar, username, password } = options.register;
    const hostPort = registrar.replace(/^sips?:/, '').replace(/;.*$/, '');
    aor = `sip:${username}@${hostPort}`;
    uri = aor;
    account = `<${aor}>;auth_pass=${password};regint=${options.register.expiresSeconds ?? 60};answermode=${answermode}`;
  } else {
    const username = options.username ?? 'baresip';
    aor = `sip:${username}@127.0.0.1`;
    uri = `sip:${username}@127.0.0.1:${sipPort}`;
    account = `<${aor}>;regint=0;answermode=${answermode}`;
  }
  if (options.accountParams)
    account += options.accountParams.startsWith(';') ? options.accountParams : `;${options.accountParams}`;
  // A registering account is added with `uanew` once ctrl_tcp is connected, so REGISTERING/REGISTER_OK are not
  // sent before anyone listens.
  await writeFile(join(dir, 'accounts'), options.register ? '' : account + '\n');
  await writeFile(join(dir, 'contacts'), '');

  const started = Date.now();
  const lines: string[] = [];
  let process_: OwnedProcess;
  try {
    process_ = await OwnedProcess.start({
      name: `baresip:${sipPort}`,
      command: 'baresip',
      args: ['-f', dir, ...(options.verbose ? ['-v', '-s'] : [])],
      cwd: dir,
      diesWithOwner: true,
      readyWhen: (line) => line.includes('baresip is ready'),
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      onLine: (line) => {
        lines.push(stripAnsi(line));
        if (lines.length > 500) lines.shift();
      },
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let ctrl: CtrlConnection;
  try {
    ctrl = await CtrlConnection.connect(ctrlPort, started);
  } catch (error) {
    await process_.close();
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      `baresip ctrl_tcp on ${ctrlPort} unreachable: ${(error as Error).message}\n${lines.slice(-20).join('\n')}`,
      {
        cause: error,
      },
    );
  }

  if (options.register) {
    try {
      await ctrl.command('uanew', account);
    } catch (error) {
      ctrl.destroy();
      await process_.close();
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  let closed: Promise<void> | undefined;
  const peer: BaresipPeer = {
    port: sipPort,
    uri,
    aor,
    ctrlPort,
    configDir: dir,
    events: ctrl.events,
    command: (command, params = '') => ctrl.command(command, params),
    waitForEvent: (match, waitOptions) => ctrl.waitForEvent(match, waitOptions),
    waitForRegistration: async (timeoutMs = 10_000) => {
      const event = await ctrl.waitForEvent(
        (event) => (event.type === 'REGISTER_OK' || event.type === 'REGISTER_FAIL') && event.accountaor === aor,
        { timeoutMs },
      );
      if (event.type === 'REGISTER_FAIL') throw new Error(`baresip ${aor} failed to register: ${event.param ?? ''}`);
    },
    dial: (target) => ctrl.command('dial', target),
    accept: () => ctrl.command('accept', ''),
    hangup: () => ctrl.command('hangup', ''),
    sendDtmf: (digits) => {
      if (!/^[0-9*#A-D]+$/.test(digits)) return Promise.reject(new Error(`not DTMF digits: ${digits}`));
      return ctrl.command('sndcode', digits);
    },
    hold: () => ctrl.command('hold', ''),
    resume: () => ctrl.command('resume', ''),
    logs: () => [...lines],
    close: () =>
      (closed ??= (async () => {
        ctrl.destroy();
        await process_.close('SIGTERM', 3_000);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
  return peer;
}

/** ctrl_tcp client: netstring framing, token-matched responses, an event log with waiters. */
class CtrlConnection {
  readonly events: BaresipEvent[] = [];
  private buffer = Buffer.alloc(0);
  private nextToken = 1;
  private readonly pending = new Map<string, { resolve: (r: BaresipResponse) => void; reject: (e: Error) => void }>();
  private readonly waiters = new Set<() => void>();
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly started: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.fail(new Error('baresip ctrl_tcp connection closed')));
    socket.on('error', (error) => this.fail(error));
  }

  static async connect(port: number, started: number): Promise<CtrlConnection> {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const socket = createConnection({ host: '127.0.0.1', port });
          socket.once('connect', () => {
            socket.off('error', reject);
            resolve(socket);
          });
          socket.once('error', reject);
        });
        return new CtrlConnection(socket, started);
      } catch (error) {
        lastError = error as Error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw lastError ?? new Error('connect failed');
  }

  command(command: string, params: string): Promise<BaresipResponse> {
    if (this.closedError) return Promise.reject(this.closedError);
    const token = `t${this.nextToken++}`;
    const json = JSON.stringify({ command, params, token });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new Error(`baresip command ${command} timed out`));
      }, 5_000);
      this.pending.set(token, {
        resolve: (response) => {
          clearTimeout(timer);
          if (response.ok) resolve(response);
          else reject(new Error(`baresip command ${command} ${params} failed: ${response.data}`));
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.socket.write(`${Buffer.byteLength(json)}:${json},`);
    });
  }

  waitForEvent(match: string | ((event: BaresipEvent) => boolean), options: WaitOptions = {}): Promise<BaresipEvent> {
    const predicate = typeof match === 'string' ? (event: BaresipEvent) => event.type === match : match;
    const timeoutMs = options.timeoutMs ?? 10_000;
    let index = options.since ?? 0;
    return new Promise((resolve, reject) => {
      const check = () => {
        for (; index < this.events.length; index++) {
          const event = this.events[index]!;
          if (predicate(event)) {
            done();
            resolve(event);
            return;
          }
        }
        if (this.closedError) {
          done();
          reject(this.closedError);
        }
      };
      const timer = setTimeout(() => {
        done();
        const seen = this.events.map((event) => `${event.type}(${event.param ?? ''})`).join(', ');
        reject(new Error(`no matching baresip event within ${timeoutMs} ms; seen: ${seen || 'none'}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const colon = this.buffer.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(this.buffer.subarray(0, colon).toString('ascii'));
      if (!Number.isInteger(length)) {
        this.fail(new Error('baresip ctrl_tcp sent a malformed netstring'));
        this.socket.destroy();
        return;
      }
      if (this.buffer.length < colon + 1 + length + 1) return;
      const body = this.buffer.subarray(colon + 1, colon + 1 + length).toString('utf8');
      this.buffer = this.buffer.subarray(colon + 1 + length + 1);
      this.onMessage(body);
    }
  }

  private onMessage(body: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return;
    }
    if (message.response === true) {
      const token = typeof message.token === 'string' ? message.token : '';
      const pending = this.pending.get(token);
      this.pending.delete(token);
      pending?.resolve({ ok: message.ok === true, data: typeof message.data === 'string' ? message.data : '' });
      return;
    }
    if (message.event === true) {
      const text = (key: string) => (typeof message[key] === 'string' ? (message[key] as string) : undefined);
      this.events.push({
        type: text('type') ?? 'UNKNOWN',
        class: text('class'),
        accountaor: text('accountaor'),
        direction: text('direction'),
        peeruri: text('peeruri'),
        id: text('id'),
        param: text('param'),
        at: Date.now() - this.started,
        raw: message,
      });
      for (const waiter of [...this.waiters]) waiter();
    }
  }

  private fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A free port P (TCP+UDP) with P + 1 free for TCP: baresip opens SIP TLS on sip_listen port + 1. */
async function freeSipPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await tcpPortFree(port + 1))) return port;
  }
  throw new Error('no free SIP port pair found on 127.0.0.1');
}

function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function render(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`baresip config template: no value for {{${name}}}`);
    return value;
  });
}

function stripAnsi(line: string): string {
  return line.replace(/\x1b\[[0-9;]*m/g, '');
}
