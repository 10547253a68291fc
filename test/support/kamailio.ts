/**
 * A real SIP registrar + proxy (kamailio 5.6) for tests, with digest auth and no database.
 *
 * How it is configured, and why (the script is test/fixtures/kamailio/kamailio.cfg.tpl):
 * - One fresh temp dir per instance holds the rendered kamailio.cfg, the pid file (-P) and the runtime dir (-Y);
 *   kamailio runs in the foreground logging to stderr (`-DD -E`: -D alone would be "no fork" mode, which opens
 *   no TCP listener), with small memory (`-m 32 -M 8`) so several instances fit.
 * - It listens on 127.0.0.1:<free port> for SIP over UDP and TCP. The same TCP port also answers JSON-RPC over HTTP
 *   (`POST /RPC`, xhttp + jsonrpcs), which is how `registered()` reads usrloc without kamcmd or a ctl socket.
 * - Users are written into an htable at start (`event_route[htable:mod-init]`). REGISTER is challenged with 401
 *   (`www_challenge`, realm = From domain) and saved in memory (usrloc db_mode 0, use_domain 0: the AOR is the
 *   bare username). Any other dialog-creating request must carry credentials for its From user (407,
 *   `proxy_challenge`), is record-routed, and is sent to the registered contact of the R-URI user
 *   (`lookup("location")`) or, if the R-URI is not ours, relayed as is. In-dialog requests (ACK, BYE, re-INVITE)
 *   follow loose_route. OPTIONS to the server itself gets 200 without auth.
 * - A wrong password is challenged again (401/407); an unknown user gets 403.
 * - `algorithm: 'SHA-256'` sets the auth module's algorithm (RFC 7616); the default is MD5.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { freePort } from './free-port.ts';

const CONFIG_TEMPLATE = fileURLToPath(new URL('../fixtures/kamailio/kamailio.cfg.tpl', import.meta.url));
const MODULE_PATH = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const READY_MARK = 'TEST-KAMAILIO-READY';
/** What may appear inside a kamailio string literal and an htable key without escaping. */
const SAFE = /^[A-Za-z0-9._~!*+-]+$/;

export interface KamailioUser {
  username: string;
  password: string;
}

export interface KamailioOptions {
  users: KamailioUser[];
  /** An extra name kamailio treats as itself (alias); the auth realm is always the From domain. Default '127.0.0.1'. */
  domain?: string;
  /** Digest algorithm of the challenges. Default 'MD5'. */
  algorithm?: 'MD5' | 'SHA-256';
  /** kamailio `debug` level (2 = info, shows one `REQ <method> <ruri>` line per request; 3 = debug). Default 2. */
  debugLevel?: number;
  port?: number;
  readyTimeoutMs?: number;
}

export interface KamailioContact {
  /** The Contact URI as registered, e.g. sip:alice@127.0.0.1:5070;transport=UDP */
  address: string;
  expires: number;
  callId: string;
  userAgent: string;
  received: string | undefined;
  raw: Record<string, unknown>;
}

export interface KamailioPeer {
  readonly port: number;
  readonly host: '127.0.0.1';
  readonly domain: string;
  /** sip:127.0.0.1:<port> — use as registrar / outbound proxy. */
  readonly uri: string;
  /** Current contacts of a user ([] when not registered). */
  registered(username: string): Promise<KamailioContact[]>;
  /** Polls `registered` until the user has at least one contact. */
  waitForRegistration(username: string, timeoutMs?: number): Promise<KamailioContact[]>;
  /** Any kamailio RPC (e.g. 'ul.dump', 'core.uptime'); resolves the JSON-RPC `result`, rejects on `error`. */
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  /** The last lines kamailio logged. */
  logs(): string[];
  close(): Promise<void>;
}

export async function startKamailio(options: KamailioOptions): Promise<KamailioPeer> {
  for (const user of options.users) {
    if (!SAFE.test(user.username) || !SAFE.test(user.password)) {
      throw new Error(
        `kamailio test user ${JSON.stringify(user.username)}: only ${SAFE} is allowed in names and passwords`,
      );
    }
  }
  const domain = options.domain ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.-]+$/.test(domain)) throw new Error(`bad domain ${domain}`);
  const port = options.port ?? (await freePort());
  const template = await readFile(CONFIG_TEMPLATE, 'utf8');
  const rendered = render(template, {
    DEBUG: String(options.debugLevel ?? 2),
    // An alias without a port matches every port: never alias 127.0.0.1 itself, or the registered contacts (also on
    // 127.0.0.1) would look like kamailio and loose_route would not forward to them.
    ALIAS: domain === '127.0.0.1' ? '' : `alias="${domain}"`,
    PORT: String(port),
    MODULES: MODULE_PATH,
    ALGORITHM: options.algorithm ?? 'MD5',
    USERS: options.users.map((user) => `\t$sht(users=>${user.username}) = "${user.password}";`).join('\n'),
  });
  const dir = await mkdtemp(join(tmpdir(), 'kamailio-'));
  const cfg = join(dir, 'kamailio.cfg');
  await writeFile(cfg, rendered);

  const lines: string[] = [];
  let owned: OwnedProcess;
  try {
    owned = await OwnedProcess.start({
      name: `kamailio:${port}`,
      command: '/usr/sbin/kamailio',
      args: ['-f', cfg, '-DD', '-E', '-m', '32', '-M', '8', '-P', join(dir, 'kamailio.pid'), '-Y', dir, '-w', dir],
      cwd: dir,
      diesWithOwner: 'SIGTERM',
      readyWhen: (line) => line.includes(READY_MARK),
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      onLine: (line) => {
        lines.push(line);
        if (lines.length > 500) lines.shift();
      },
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let rpcId = 1;
  const rpc = async (method: string, params: unknown[] = []): Promise<unknown> => {
    const body = JSON.stringify({ jsonrpc: '2.0', method, params, id: rpcId++ });
    let lastError: unknown;
    // The TCP workers may start a moment after the UDP worker that logged the ready mark.
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const reply = JSON.parse(await post(port, '/RPC', body)) as {
          result?: unknown;
          error?: { code: number; message: string };
        };
        if (reply.error) throw new KamailioRpcError(reply.error.message, reply.error.code);
        return reply.result;
      } catch (error) {
        if (error instanceof KamailioRpcError) throw error;
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw lastError;
  };

  const registered = async (username: string): Promise<KamailioContact[]> => {
    try {
      const result = (await rpc('ul.lookup', ['location', username])) as {
        Contacts?: { Contact: Record<string, unknown> }[];
      };
      return (result.Contacts ?? []).map(({ Contact: contact }) => ({
        address: String(contact.Address),
        expires: Number(contact.Expires),
        callId: String(contact['Call-ID']),
        userAgent: String(contact['User-Agent']),
        received: contact.Received === '[not set]' ? undefined : String(contact.Received),
        raw: contact,
      }));
    } catch (error) {
      if (error instanceof KamailioRpcError && /not found/i.test(error.message)) return [];
      throw error;
    }
  };

  let closed: Promise<void> | undefined;
  return {
    port,
    host: '127.0.0.1',
    domain,
    uri: `sip:127.0.0.1:${port}`,
    registered,
    waitForRegistration: async (username, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const contacts = await registered(username);
        if (contacts.length > 0) return contacts;
        if (Date.now() > deadline) throw new Error(`${username} did not register with kamailio within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    rpc,
    logs: () => [...lines],
    close: () =>
      (closed ??= (async () => {
        await owned.close('SIGTERM', 5_000);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

export class KamailioRpcError extends Error {
  override name = 'KamailioRpcError';
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

function post(port: number, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.setTimeout(3_000, () => req.destroy(new Error('kamailio RPC timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

function render(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`kamailio config template: no value for {{${name}}}`);
    return value;
  });
}
