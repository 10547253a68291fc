import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CallSpec, StateEvent } from '../../shared/call-types.ts';
import { NODE_FLAGS, TASK_ENV } from '../../shared/task-env.ts';
import { OwnedProcess, type ProcessExit } from '../../shared/owned-process.ts';
import { mediaTaskEntry } from './media-task-bundle.ts';
import { waitFor } from './nginx-rtmp.ts';

/** A call spec for a peer on 127.0.0.1, with the seed's shape and overridable parts. */
export function testCallSpec(
  overrides: Partial<Omit<CallSpec, 'connection'>> & { connection?: Partial<CallSpec['connection']> } = {},
): CallSpec {
  const { connection, ...rest } = overrides;
  return {
    callId: `test-${Math.random().toString(36).slice(2, 10)}`,
    callee: '10000',
    rtmpUrl: 'rtmp://127.0.0.1:1/live',
    rtmpStream: 'stream1',
    hasAudio: true,
    hasVideo: false,
    maxDurationSeconds: 600,
    rtpTimeoutSeconds: 30,
    ...rest,
    connection: {
      sipLogin: '10000',
      sipPassword: 'secret-Pa55word',
      sipAuthenticationName: '10000',
      sipDomain: '127.0.0.1',
      sipPort: 5060,
      sipRegisterRequired: false,
      transport: 'udp',
      ...connection,
    },
  };
}

/**
 * The media task run as the local launcher and the container run it (its bundle, spec in the environment), with its stdout state events collected for assertions.
 */
export class MediaTaskProcess {
  readonly events: StateEvent[] = [];
  readonly logLines: string[] = [];
  private process!: OwnedProcess;

  static async start(spec: CallSpec, env: Record<string, string> = {}): Promise<MediaTaskProcess> {
    const task = new MediaTaskProcess();
    task.process = await OwnedProcess.start({
      name: `media-task ${spec.callId}`,
      command: process.execPath,
      args: [...NODE_FLAGS, await mediaTaskEntry()],
      stdin: true,
      diesWithOwner: true,
      env: {
        PATH: process.env.PATH,
        LOG_LEVEL: 'debug',
        [TASK_ENV.callSpec]: JSON.stringify(spec),
        [TASK_ENV.bindAddress]: '127.0.0.1',
        ...env,
      },
      onLine: (line, stream) => {
        if (stream === 'stderr') task.logLines.push(line);
        else task.events.push(JSON.parse(line) as StateEvent);
      },
    });
    return task;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get exited(): Promise<ProcessExit> {
    return this.process.exited;
  }

  async waitForEvent(type: StateEvent['type'], timeoutMs = 15_000): Promise<StateEvent> {
    await waitFor(
      () => this.events.some((event) => event.type === type) || !this.process.running,
      timeoutMs,
      `event ${type}`,
    );
    const event = this.events.find((candidate) => candidate.type === type);
    if (!event)
      throw new Error(
        `task exited without ${type}; events: ${this.types().join(', ')}\n${this.logLines.slice(-15).join('\n')}`,
      );
    return event;
  }

  /** The final event (`ended` or `failed`), once the task has exited. */
  async final(timeoutMs = 20_000): Promise<StateEvent> {
    await waitFor(() => !this.process.running, timeoutMs, 'the media task to exit');
    const final = this.events.find((event) => event.type === 'ended' || event.type === 'failed');
    if (!final)
      throw new Error(`no final event; events: ${this.types().join(', ')}\n${this.logLines.slice(-15).join('\n')}`);
    return final;
  }

  /** State event types in order, stats left out. */
  types(): string[] {
    return this.events.filter((event) => event.type !== 'stats').map((event) => event.type);
  }

  command(command: object): void {
    this.process.writeLine(JSON.stringify(command));
  }

  /** A raw line on the task's stdin, as a broken or hostile writer might send it. */
  writeLine(line: string): void {
    this.process.writeLine(line);
  }

  /** SIGTERM, as ECS StopTask and the local launcher send it. */
  terminate(): void {
    this.process.signal('SIGTERM');
  }

  close(): Promise<ProcessExit> {
    return this.process.close('SIGKILL', 1000);
  }
}

/** A u-law WAV of a sine tone, which sipp's rtp_stream plays as PCMU; `volume` 0 makes it silence. */
export async function makeToneWav(path: string, { seconds = 30, hz = 1000, volume = 1 } = {}): Promise<string> {
  await promisify(execFile)('sox', [
    '-n',
    '-r',
    '8000',
    '-c',
    '1',
    '-e',
    'u-law',
    path,
    'synth',
    String(seconds),
    'sine',
    String(hz),
    'vol',
    String(volume),
  ]);
  return path;
}
