import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';

/** util-linux (essential on Debian): sets PR_SET_PDEATHSIG, then execs the command in the same process. */
const SETPRIV = '/usr/bin/setpriv';
const canTieToOwner = existsSync(SETPRIV);

/**
 * The one owner of a child process (ffmpeg, a media task, a test peer): it starts it, reads its output line by
 * line, tells a clean close from a death, and always reaps it. No shell is ever involved: argument arrays only.
 */
export interface OwnedProcessOptions {
  /** Used in errors and log lines. */
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve `start` only once a line of output satisfies this; otherwise as soon as the process has spawned. */
  readyWhen?: (line: string, stream: 'stdout' | 'stderr') => boolean;
  readyTimeoutMs?: number;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Keep stdin open as a pipe (commands to a media task); otherwise it is /dev/null. */
  stdin?: boolean;
  /**
   * SIGKILLed by the kernel when this process dies, however it dies: an owner that is itself SIGKILLed reaps
   * nothing, and an ffmpeg waiting for RTP would sit on its ports forever. Where setpriv is missing, as before.
   * 'SIGTERM' for a process whose own children outlive it when it is SIGKILLed (kamailio's workers): it is asked
   * to stop instead, and takes them down itself.
   */
  diesWithOwner?: boolean | 'SIGTERM';
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when it exited because `close()` asked it to. */
  closed: boolean;
}

export class ProcessStartError extends Error {
  override name = 'ProcessStartError';
  constructor(
    message: string,
    readonly processName: string,
    readonly lastLines: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const TAIL_LINES = 20;

export class OwnedProcess {
  readonly exited: Promise<ProcessExit>;
  private closing = false;
  private exit: ProcessExit | undefined;
  private readonly tail: string[] = [];
  private readonly exitListeners = new Set<(exit: ProcessExit) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly options: OwnedProcessOptions,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exit = { code, signal, closed: this.closing };
        resolve(this.exit);
        for (const listener of this.exitListeners) {
          try {
            listener(this.exit);
          } catch {
            // A listener's bug must not stop the others from learning the process is gone.
          }
        }
      });
    });
    // A process that exits before it read its stdin fails our write with EPIPE; its exit is what tells the owner.
    child.stdin?.on('error', () => {});
    for (const stream of ['stdout', 'stderr'] as const) {
      const readable = child[stream];
      if (!readable) continue;
      createInterface({ input: readable }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
        options.onLine?.(line, stream);
      });
    }
  }

  /** Spawns and resolves when ready; rejects (having reaped the process) if it exits or times out first. */
  static start(options: OwnedProcessOptions): Promise<OwnedProcess> {
    // A command that is not there must still fail the spawn itself (ENOENT), not exit setpriv with 127 later.
    const tie = options.diesWithOwner && canTieToOwner && findable(options.command, options.env ?? process.env);
    const deathSignal = options.diesWithOwner === 'SIGTERM' ? 'TERM' : 'KILL';
    const [command, args] = tie
      ? [SETPRIV, ['--pdeathsig', deathSignal, '--', options.command, ...options.args]]
      : [options.command, [...options.args]];
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      shell: false,
    });
    const owned = new OwnedProcess(child, options);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (message: string, cause?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void owned
          .close()
          .then(() => reject(new ProcessStartError(message, options.name, owned.lastLines(), { cause })));
      };
      const succeed = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(owned);
      };
      const timer = options.readyWhen
        ? setTimeout(
            () => fail(`${options.name} was not ready within ${options.readyTimeoutMs ?? 10_000} ms`),
            options.readyTimeoutMs ?? 10_000,
          )
        : undefined;
      child.once('error', (error) => fail(`${options.name} could not start: ${error.message}`, error));
      owned.onExit((exit) =>
        fail(`${options.name} exited before it was ready (code ${exit.code}, signal ${exit.signal})`),
      );
      if (options.readyWhen) {
        const previous = options.onLine;
        options.onLine = (line, stream) => {
          previous?.(line, stream);
          if (!settled && options.readyWhen?.(line, stream)) succeed();
        };
      } else {
        child.once('spawn', succeed);
      }
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  lastLines(): string[] {
    return [...this.tail];
  }

  onExit(listener: (exit: ProcessExit) => void): () => void {
    if (this.exit) listener(this.exit);
    else this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** Writes one line to stdin (only with `stdin: true`); false when the process can no longer read it. */
  writeLine(line: string): boolean {
    const stdin = this.readableStdin();
    stdin?.write(line + '\n');
    return stdin !== undefined;
  }

  /** Writes `text` to stdin (only with `stdin: true`) and closes it; false when the process can no longer read it. */
  endInput(text: string): boolean {
    const stdin = this.readableStdin();
    stdin?.end(text);
    return stdin !== undefined;
  }

  private readableStdin(): Writable | undefined {
    const stdin = this.child.stdin;
    return stdin && !stdin.destroyed && this.running ? stdin : undefined;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /**
   * Asks the process to stop (`signal`, default SIGTERM), then SIGKILLs it after `graceMs`. Safe to call twice;
   * resolves once the process has been reaped.
   */
  async close(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<ProcessExit> {
    if (this.exit) return this.exit;
    if (!this.closing) {
      this.closing = true;
      this.child.stdin?.end();
      this.child.kill(signal);
      const killer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      void this.exited.then(() => clearTimeout(killer));
    }
    return this.exited;
  }
}

function findable(command: string, env: NodeJS.ProcessEnv): boolean {
  if (command.includes('/')) return existsSync(command);
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
}
