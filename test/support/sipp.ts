import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwnedProcess, type ProcessExit } from '../../shared/owned-process.ts';
import { freePort, freeRtpPort } from './free-port.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/sipp/', import.meta.url));
const SIPP = process.env.SIPP_BIN ?? '/usr/bin/sipp';

export interface SippOptions {
  /** File name under test/fixtures/sipp/. */
  scenario: string;
  transport?: 'udp' | 'tcp';
  /** sipp fails the scenario (exit code 1) when it has not finished by then. */
  timeoutSeconds?: number;
  /** sipp counts a call per Call-ID; a registration is a call of its own. */
  calls?: number;
  /** `-key name value` pairs, read in scenarios as [name]. */
  keys?: Record<string, string>;
  /** Scenarios that stream RTP (`rtp_stream`): media on 127.0.0.1 from a free port instead of sipp's fixed 6000. */
  media?: boolean;
  /** sipp's working directory: `rtp_stream` files are read (and cached) at load time, relative to it. */
  cwd?: string;
}

/**
 * A sipp UAS on 127.0.0.1 running one call of a fixture scenario. `exited` tells whether the scenario passed
 * (exit code 0); `messages()` reads sipp's trace of everything it sent and received.
 */
export class SippPeer {
  private constructor(
    readonly port: number,
    readonly process: OwnedProcess,
    private readonly directory: string,
  ) {}

  /**
   * A port picked free can be taken before sipp binds it (other tests' connections draw from the same ephemeral
   * range): a sipp that exits at start is tried again on fresh ports, twice, and the last error says why.
   */
  static async start(options: SippOptions): Promise<SippPeer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await SippPeer.startOnce(options);
      } catch (error) {
        if (attempt === 3 || !(error instanceof SippStartError)) throw error;
      }
    }
  }

  private static async startOnce(options: SippOptions): Promise<SippPeer> {
    const port = await freePort();
    const mediaArgs = options.media ? ['-mi', '127.0.0.1', '-mp', String(await freeRtpPort())] : [];
    const transport = options.transport ?? 'udp';
    const directory = await mkdtemp(join(tmpdir(), 'sipp-'));
    const args = [
      '-sf',
      join(FIXTURES, options.scenario),
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-t',
      transport === 'tcp' ? 't1' : 'u1',
      '-m',
      String(options.calls ?? 1),
      '-nostdin',
      '-timeout',
      `${options.timeoutSeconds ?? 30}s`,
      '-timeout_error',
      '-trace_msg',
      '-message_file',
      join(directory, 'messages.log'),
      '-trace_err',
      '-error_file',
      join(directory, 'errors.log'),
      ...mediaArgs,
      ...Object.entries(options.keys ?? {}).flatMap(([name, value]) => ['-key', name, value]),
    ];
    const owned = await OwnedProcess.start({
      name: `sipp ${options.scenario}`,
      command: SIPP,
      args,
      cwd: options.cwd,
      diesWithOwner: true,
    });
    const peer = new SippPeer(port, owned, directory);
    try {
      await waitUntilBound(port, transport, owned);
    } catch (error) {
      const errors = await readFile(join(directory, 'errors.log'), 'utf8').catch(() => '');
      await peer.close();
      throw error instanceof SippStartError ? new SippStartError(`${error.message}\n${errors}`) : error;
    }
    return peer;
  }

  /** Resolves with sipp's exit; code 0 = every call of the scenario succeeded. */
  async finished(timeoutMs = 30_000): Promise<ProcessExit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`sipp still running after ${timeoutMs} ms: ${this.process.lastLines().join('\n')}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.process.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** sipp's message trace: every SIP message it sent or received, in order. */
  async messages(): Promise<string> {
    return readFile(join(this.directory, 'messages.log'), 'utf8').catch(() => '');
  }

  async errors(): Promise<string> {
    return readFile(join(this.directory, 'errors.log'), 'utf8').catch(() => '');
  }

  /** The messages sipp received whose start line begins with `startLine` (e.g. 'BYE ', 'SIP/2.0 200'). */
  async received(startLine: string): Promise<string[]> {
    return (await this.receivedTimed(startLine)).map(({ message }) => message);
  }

  /** Like `received`, each with the time sipp logged it (ms since the epoch on this machine's local clock). */
  async receivedTimed(startLine: string): Promise<Array<{ at: number; message: string }>> {
    return (await this.messages())
      .split(/^(?=-{10,})/m)
      .flatMap((block) => {
        const match =
          /^-{10,}[ \t]+(\d{4}-\d\d-\d\d)[ \t]+(\d\d:\d\d:\d\d\.\d{3})\d*\s*\n\s*\w+ message received[^\n]*\n\s*\n([\s\S]*)$/.exec(
            block,
          );
        return match ? [{ at: Date.parse(`${match[1]}T${match[2]}`), message: match[3]! }] : [];
      })
      .filter(({ message }) => message.startsWith(startLine));
  }

  async close(): Promise<void> {
    await this.process.close('SIGTERM', 2000);
    await rm(this.directory, { recursive: true, force: true });
  }
}

class SippStartError extends Error {
  override name = 'SippStartError';
}

async function waitUntilBound(port: number, transport: 'udp' | 'tcp', owned: OwnedProcess): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (!owned.running) throw new SippStartError(`sipp exited at start: ${owned.lastLines().join('\n')}`);
    if (await portTaken(port, transport)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sipp did not bind ${transport} port ${port}`);
}

function portTaken(port: number, transport: 'udp' | 'tcp'): Promise<boolean> {
  return new Promise((resolve) => {
    if (transport === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(true));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(false)));
    } else {
      const server = createServer();
      server.once('error', () => resolve(true));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
    }
  });
}
