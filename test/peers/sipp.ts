/**
 * Runs one sipp scenario to completion for the peer self-tests (sipp 3.6: exit code 0 = every call passed,
 * 1 = at least one failed). sipp is bound to 127.0.0.1 on a free port, with no stdin, traces in a temp dir.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { freePort, freeRtpPort } from '../support/free-port.ts';

export const fixture = (path: string): string => fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url));

export interface SippRun {
  code: number | null;
  /** sipp's own output plus the -trace_msg message log, for assertions and failure messages. */
  output: string;
  messages: string;
}

export async function runSipp(target: string, args: string[], timeoutSeconds = 20): Promise<SippRun> {
  const dir = await mkdtemp(join(tmpdir(), 'sipp-'));
  const port = await freePort();
  // sipp binds its media sockets (-mp, default 6000) even when a scenario never uses them: keep them off shared ports.
  const mediaPort = args.includes('-mp') ? [] : ['-mp', String(await freeRtpPort())];
  const lines: string[] = [];
  try {
    const sipp = await OwnedProcess.start({
      name: 'sipp',
      command: '/usr/bin/sipp',
      args: [
        target,
        '-i',
        '127.0.0.1',
        '-p',
        String(port),
        '-m',
        '1',
        '-nostdin',
        '-timeout',
        `${timeoutSeconds}s`,
        '-timeout_error',
        '-max_retrans',
        '3',
        '-trace_msg',
        '-message_file',
        join(dir, 'messages.log'),
        '-trace_err',
        '-error_file',
        join(dir, 'errors.log'),
        ...mediaPort,
        ...args,
      ],
      cwd: dir,
      diesWithOwner: true,
      onLine: (line) => lines.push(line),
    });
    const exit = await sipp.exited;
    const files = await readdir(dir);
    const read = async (name: string) => (files.includes(name) ? await readFile(join(dir, name), 'utf8') : '');
    const messages = await read('messages.log');
    return { code: exit.code, output: [...lines.slice(-40), await read('errors.log')].join('\n'), messages };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
