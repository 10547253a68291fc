/**
 * `npx sip-rtmp-gateway call|ls|hangup|dtmf|usage`: the /v1 API for shell scripts. Secrets come from the environment
 * only (argument lists are world-readable in `ps`); exit codes are 0 ok, 1 the API refused or was unreachable,
 * 2 usage error, so scripts can tell a typo from a failed call.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

export const CLI_ENV = {
  url: 'GATEWAY_URL',
  apiKey: 'GATEWAY_API_KEY',
  sipPassword: 'SIP_PASSWORD',
} as const;

const DEFAULT_URL = 'http://127.0.0.1:9091';

export const USAGE = `usage: sip-rtmp-gateway <command> [options]
  call   --callee C --rtmp-url U --stream S --sip-domain D --sip-login L
         [--sip-port N] [--sip-auth-name A] [--transport udp|tcp|tls] [--register] [--call-id ID]
         [--video] [--dtmf DIGITS] [--status-callback URL] [--json]
         or: call --body FILE|-   (a /v1/calls JSON body)
  ls     [--all] [--json]        live calls (all with --all)
  hangup CALL_ID
  dtmf   CALL_ID DIGITS [--info]
  usage  --from DATE [--to DATE] [--key NAME] [--json]   finished calls created in that range, per API key:
         minutes, bytes, estimated cost (only that key's with --key)
  --url URL (default $${CLI_ENV.url} or ${DEFAULT_URL}); API key from $${CLI_ENV.apiKey}; SIP password from $${CLI_ENV.sipPassword}`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  fetch: typeof fetch;
  out: (line: string) => void;
  err: (line: string) => void;
  readStdin: () => Promise<string>;
}

class UsageError extends Error {}

/** Runs one command; resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        json: { type: 'boolean' },
        key: { type: 'string' },
        all: { type: 'boolean' },
        info: { type: 'boolean' },
        body: { type: 'string' },
        callee: { type: 'string' },
        'rtmp-url': { type: 'string' },
        stream: { type: 'string' },
        'sip-domain': { type: 'string' },
        'sip-login': { type: 'string' },
        'sip-port': { type: 'string' },
        'sip-auth-name': { type: 'string' },
        transport: { type: 'string' },
        register: { type: 'boolean' },
        'call-id': { type: 'string' },
        video: { type: 'boolean' },
        dtmf: { type: 'string' },
        'status-callback': { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: opts, positionals } = parsed;
  const [command, ...args] = positionals;
  const base = (opts.url ?? io.env[CLI_ENV.url] ?? DEFAULT_URL).replace(/\/+$/, '');
  const api = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const apiKey = io.env[CLI_ENV.apiKey];
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const response = await io.fetch(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!response.ok)
      throw new Error(
        `${response.status} ${(json.error as { message?: string } | undefined)?.message ?? response.statusText}`,
      );
    return json;
  };
  const printCall = (call: Record<string, unknown>) =>
    io.out(opts.json ? JSON.stringify(call) : `${call.callId} ${call.state}`);

  try {
    switch (command) {
      case 'call': {
        const body =
          opts.body !== undefined
            ? JSON.parse(opts.body === '-' ? await io.readStdin() : await readFile(opts.body, 'utf8'))
            : callBody(opts, io.env);
        printCall(await api('POST', '/v1/calls', body));
        return 0;
      }
      case 'ls': {
        const { calls } = (await api('GET', `/v1/calls${opts.all ? '' : '?live=true'}`)) as {
          calls: Record<string, unknown>[];
        };
        if (opts.json) io.out(JSON.stringify(calls));
        else
          for (const call of calls)
            io.out([call.callId, call.state, call.callee, `${call.rtmpUrl}/${call.rtmpStream}`].join('\t'));
        return 0;
      }
      case 'hangup': {
        printCall(await api('DELETE', `/v1/calls/${encodeURIComponent(required(args[0], 'CALL_ID'))}`));
        return 0;
      }
      case 'dtmf': {
        const callId = required(args[0], 'CALL_ID');
        const dtmf = required(args[1], 'DIGITS');
        printCall(
          await api('POST', `/v1/calls/${encodeURIComponent(callId)}/dtmf`, {
            dtmf,
            ...(opts.info ? { method: 'info' } : {}),
          }),
        );
        return 0;
      }
      case 'usage': {
        const query = new URLSearchParams({
          from: required(opts.from, '--from'),
          ...(opts.to ? { to: opts.to } : {}),
          ...(opts.key ? { key: opts.key } : {}),
        });
        const usage = await api('GET', `/v1/usage?${query}`);
        if (opts.json) io.out(JSON.stringify(usage));
        else {
          const minutes = (seconds: unknown) => (Number(seconds) / 60).toFixed(1);
          const line = (totals: Record<string, unknown>) =>
            `${totals.calls} calls, ${minutes(totals.mediaSeconds)} min streamed, ${minutes(totals.billableTaskSeconds)} task min billed, ${totals.bytesOut} bytes out, ~$${Number(totals.estimatedCostUsd).toFixed(4)}`;
          io.out(line(usage));
          for (const entry of (usage.byKey ?? []) as Record<string, unknown>[])
            io.out(`  ${entry.keyName ?? '(no key)'}: ${line(entry)}`);
        }
        return 0;
      }
      default:
        throw new UsageError(command ? `unknown command ${command}` : 'missing command');
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n${USAGE}`);
      return 2;
    }
    io.err(`error: ${(error as Error).message}`);
    return 1;
  }
}

type Options = Record<string, string | boolean | undefined>;

/** The /v1/calls body from flags; the server validates it (one set of rules, one set of messages). */
function callBody(opts: Options, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const str = (name: string) => opts[name] as string | undefined;
  const need = (name: string) => required(str(name), `--${name}`);
  const port = str('sip-port');
  return {
    ...(str('call-id') ? { callId: str('call-id') } : {}),
    callee: need('callee'),
    rtmpUrl: need('rtmp-url'),
    rtmpStream: need('stream'),
    hasVideo: opts.video === true,
    ...(str('dtmf') ? { dtmf: str('dtmf') } : {}),
    ...(str('status-callback') ? { statusCallback: str('status-callback') } : {}),
    connection: {
      sipLogin: need('sip-login'),
      sipDomain: need('sip-domain'),
      sipPassword: env[CLI_ENV.sipPassword] ?? '',
      sipRegisterRequired: opts.register === true,
      ...(port ? { sipPort: port } : {}),
      ...(str('sip-auth-name') ? { sipAuthenticationName: str('sip-auth-name') } : {}),
      ...(str('transport') ? { transport: str('transport') } : {}),
    },
  };
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`${name} is required`);
  return value;
}
