/**
 * An encoder started before the call is answered, with the arguments the likely answer calls for. ffmpeg's start
 * is ~90 ms of CPU, mostly the dynamic loader binding the ~200 libraries Debian's build links; a spare does that
 * while the phone rings, then waits in its read of the SDP on stdin. At the answer it is used only if the real
 * arguments are the same, else it is closed and a new encoder spawned, so a wrong guess costs that CPU, not a
 * different broadcast.
 */
import { isDeepStrictEqual } from 'node:util';
import { OwnedProcess } from '../../shared/owned-process.ts';

type LineListener = (line: string, stream: 'stdout' | 'stderr') => void;

export interface FfmpegLaunch {
  name: string;
  args: readonly string[];
  /** Written to its stdin, which is then closed: the encoder's SDP. Without it, stdin is /dev/null. */
  input?: string;
  onLine: LineListener;
}

/** Starts an ffmpeg: how the pipeline and its destinations run every encoder and republisher. */
export type LaunchFfmpeg = (launch: FfmpegLaunch) => Promise<OwnedProcess>;

export class SpareEncoder {
  private listener: LineListener | undefined;
  private readonly early: [string, 'stdout' | 'stderr'][] = [];
  private used = false;
  /** take() handed the process over: the call's encoder is this spare. */
  taken = false;

  private constructor(
    private readonly args: readonly string[],
    /** The spare once spawned; undefined when ffmpeg could not be run. */
    readonly spawned: Promise<OwnedProcess | undefined>,
  ) {}

  static start(args: readonly string[], ffmpegPath: string): SpareEncoder {
    let spare: SpareEncoder | undefined = undefined;
    const onLine: LineListener = (line, stream) =>
      spare?.listener ? spare.listener(line, stream) : spare?.early.push([line, stream]);
    // An ffmpeg that cannot run fails again, with its reason, when the answer spawns one.
    const spawned = spawnFfmpeg(ffmpegPath, { name: 'ffmpeg encoder', args, onLine }, true).catch(() => undefined);
    spare = new SpareEncoder(args, spawned);
    return spare;
  }

  /**
   * The spare process, its output from now on going to `onLine`, if it was started with `args` and still runs.
   * Otherwise undefined, and the spare is closed. Either way it is spent: a second take gets nothing.
   */
  async take(args: readonly string[], onLine: LineListener): Promise<OwnedProcess | undefined> {
    if (this.used) return undefined;
    if (!isDeepStrictEqual(args, this.args)) {
      // Not awaited: the answer's own encoder need not wait for this one to be reaped.
      void this.close();
      return undefined;
    }
    this.used = true;
    const process = await this.spawned;
    if (!process?.running) return undefined;
    for (const [line, stream] of this.early.splice(0)) onLine(line, stream);
    this.listener = onLine;
    this.taken = true;
    return process;
  }

  /** Closes the spare unless it was taken; resolves once it is reaped. */
  async close(): Promise<void> {
    if (this.used) return;
    this.used = true;
    await (await this.spawned)?.close('SIGKILL');
  }
}

/** `stdin`: a pipe, for the caller to write the input to; /dev/null otherwise. */
function spawnFfmpeg(ffmpegPath: string, { name, args, onLine }: FfmpegLaunch, stdin: boolean): Promise<OwnedProcess> {
  return OwnedProcess.start({ name, command: ffmpegPath, args, stdin, diesWithOwner: true, onLine });
}

/** Runs each ffmpeg through OwnedProcess, the first encoder of the call through `spare` when it fits. */
export function ffmpegLauncher(ffmpegPath: string, spare?: SpareEncoder): LaunchFfmpeg {
  return async (launch) => {
    const { input } = launch;
    const taken = input === undefined ? undefined : await spare?.take(launch.args, launch.onLine);
    const process = taken ?? (await spawnFfmpeg(ffmpegPath, launch, input !== undefined));
    if (input !== undefined) process.endInput(input);
    return process;
  };
}
