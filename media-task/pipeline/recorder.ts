/**
 * The call's recording: owns the ffmpeg that copies the encoder's MPEG-TS from a local UDP port into a fragmented
 * MP4 (buildRecorderArgs). It is one more tee slave of the encoder, like a republisher's port, so it records the
 * same encode as the broadcast, and nothing it does reaches the broadcast: UDP never blocks the encoder, and a
 * recorder that dies (disk full, a muxer error) is logged and stays dead while the call streams on. It outlives
 * encoder restarts (its port stays the call's), so one call makes one file.
 */
import { stat } from 'node:fs/promises';
import type { RecordingReport } from '../../shared/call-types.ts';
import type { Logger } from '../../shared/log.ts';
import { OwnedProcess, type ProcessExit } from '../../shared/owned-process.ts';
import { exitCause, stopFfmpeg } from './destination.ts';
import { buildRecorderArgs, type RecorderPlan } from './relay-args.ts';

const TAIL = 20;

export interface RecorderOptions extends RecorderPlan {
  ffmpegPath: string;
  logger: Logger;
}

/** The file once the recorder stopped: its size, and why it stopped early if it did. */
export interface RecordingFile {
  path: string;
  bytes: number;
  error?: string;
}

/** What to do with a closed recording (AWS: upload it), answering the call's `recording` report. */
export type KeepRecording = (file: RecordingFile, recordingId: string) => Promise<RecordingReport>;

/** Locally the file stays where it was written, DATA_DIR/recordings, which the server serves. */
export const keepInPlace: KeepRecording = async (file) => ({
  state: file.bytes > 0 ? 'saved' : 'failed',
  bytes: file.bytes,
  ...(file.error ? { error: file.error } : {}),
});

export class Recorder {
  private readonly tail: string[] = [];
  private failure: string | undefined;
  private stopping: Promise<RecordingFile> | undefined;

  private constructor(
    private readonly options: RecorderOptions,
    private readonly process: OwnedProcess,
  ) {
    process.onExit((exit) => this.onExit(exit));
  }

  /** Spawns the recorder; rejects when ffmpeg cannot be run (the arguments are checked first). */
  static async start(options: RecorderOptions): Promise<Recorder> {
    const args = buildRecorderArgs(options);
    let recorder: Recorder | undefined;
    const early: string[] = [];
    const process = await OwnedProcess.start({
      name: 'ffmpeg recorder',
      command: options.ffmpegPath,
      args,
      diesWithOwner: true,
      onLine: (line, stream) => stream === 'stderr' && (recorder ? recorder.onStderr(line) : early.push(line)),
    });
    recorder = new Recorder(options, process);
    for (const line of early) recorder.onStderr(line);
    options.logger.info('recorder started', { pid: process.pid, relayPort: options.relayPort });
    return recorder;
  }

  get pid(): number | undefined {
    return this.process.running ? this.process.pid : undefined;
  }

  /** Bytes in the file so far (0 before the first fragment). */
  async bytes(): Promise<number> {
    return (await stat(this.options.path).catch(() => undefined))?.size ?? 0;
  }

  /** Ends the recording (the last fragment is written, then the index); safe twice. */
  stop(): Promise<RecordingFile> {
    this.stopping ??= (async () => {
      await stopFfmpeg(this.process);
      const bytes = await this.bytes();
      const error = this.failure ?? (bytes === 0 ? 'nothing was recorded' : undefined);
      return { path: this.options.path, bytes, ...(error ? { error } : {}) };
    })();
    return this.stopping;
  }

  private onStderr(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL) this.tail.shift();
    this.options.logger.debug('ffmpeg recorder', { line });
  }

  private onExit(exit: ProcessExit): void {
    if (exit.closed || this.stopping) return;
    this.failure = exitCause(
      this.tail,
      (line) => /error|failed|invalid|no space/i.test(line),
      `the recorder exited (code ${exit.code}, signal ${exit.signal})`,
    );
    this.options.logger.warn('recording stopped; the broadcast goes on', { cause: this.failure });
  }
}
