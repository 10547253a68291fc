/**
 * One publishing point of a call: owns the ffmpeg that publishes to one RTMP(S) URL, and keeps it there. That
 * is the encoder itself when the call has one destination, else a republisher copying the encoder's MPEG-TS
 * from a local UDP port. When the server refuses, drops the connection or stops taking bytes, the publisher is
 * restarted with exponential backoff while the call (and every other destination) goes on; each change of
 * state is an event, for the call's stats.
 */
import type { DestinationState, DestinationStatus } from '../../shared/call-types.ts';
import type { Logger } from '../../shared/log.ts';
import { onHeartbeat } from '../heartbeat.ts';
import type { OwnedProcess, ProcessExit } from '../../shared/owned-process.ts';
import { TypedEmitter } from '../typed-emitter.ts';
import { rtmpTarget, type RtmpOutput } from './ffmpeg-args.ts';
import type { LaunchFfmpeg } from './spare-encoder.ts';

/** What ffmpeg prints when the RTMP side fails: refused connection, handshake or publish rejected, server gone. */
export const RTMP_FAILURE =
  /connection refused|input\/output error|server error|broken pipe|connection reset|connection timed out|cannot open connection|handshake|error number -10053|failed to (connect|resolve)|no route to host|name or service not known|end of file/i;

const FIRST_SIGNAL_MS = 300;
const STOP_GRACE_MS = 5_000;
/** A live connection whose byte count stands still this long is dead (a server that stopped reading). */
export const STALL_MS = 5_000;
/** Connecting (TCP, TLS, RTMP handshake, probing) must be done by then. */
const CONNECT_TIMEOUT_MS = 15_000;
/** Live this long, and a later drop starts the backoff from its first step again. */
const HEALTHY_MS = 10_000;
const TAIL = 20;

/** Delay before restart number `failures` (1-based): 0.5 s doubling to at most 10 s. */
export function backoffMs(failures: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(0, failures - 1));
}

/**
 * Ends an ffmpeg the way that keeps its output valid: SIGINT flushes and writes the trailer. ffmpeg only looks
 * at its first SIGINT between packets; while its input is silent it sits in a read that only a second signal
 * interrupts, so the first gets a moment, then close() signals again and SIGKILLs after the grace period.
 */
export async function stopFfmpeg(process: OwnedProcess): Promise<void> {
  if (!process.running) return;
  process.signal('SIGINT');
  await Promise.race([process.exited, new Promise((resolve) => setTimeout(resolve, FIRST_SIGNAL_MS))]);
  await process.close('SIGINT', STOP_GRACE_MS);
}

/**
 * The line that says why an ffmpeg exited: the last of its `lines` that `names` (an error, a failure), else its
 * last line, else `fallback`. ffmpeg ends on a generic "Conversion failed!"; the lines before that name the cause.
 */
export function exitCause(lines: readonly string[], names: (line: string) => boolean, fallback: string): string {
  const telling = lines.filter((line) => line.trim() && !/^Conversion failed!?$/.test(line.trim()));
  return [...telling].reverse().find(names) ?? telling.at(-1) ?? fallback;
}

/**
 * ffmpeg prints the output's description right after the FLV header went to the server, that is once the
 * server accepted the publish and the first packets are there: the moment media starts flowing.
 */
const HEADER_WRITTEN = /^Output #0, flv, to /;

/** ffmpeg's words when the relay port it was given is bound by someone else already. */
const PORT_TAKEN = /bind failed: Address already in use/;

export type DestinationEvents = {
  state: [DestinationStatus];
  /** Bytes written to this destination's current connection grew. */
  progress: [{ bytesOut: number }];
  /** A port it was given was taken by another process between allocation and bind: only new ports help. */
  portTaken: [{ error: string }];
  /** The publisher is the encoder and died of something other than the RTMP side: the pipeline's death. */
  encoderDied: [{ error: string }];
};

/** The ffmpeg that publishes. */
export interface Publisher {
  name: string;
  /** Its arguments, for the URL it publishes to (rtmpTarget) and whether it joins a running stream. */
  args(target: string, joinMidStream: boolean): string[];
  /** It is the call's encoder: its deaths that are not the server's are reported, not retried here. */
  isEncoder: boolean;
  /** Its stdin, at every start: the encoder's SDP. */
  input?: string;
}

export interface DestinationOptions {
  output: RtmpOutput;
  publisher: Publisher;
  launch: LaunchFfmpeg;
  logger: Logger;
}

export class Destination extends TypedEmitter<DestinationEvents> {
  readonly target: string;
  /** The URL without the stream name, which is often the publishing key. */
  readonly maskedTarget: string;
  private process: OwnedProcess | undefined;
  private state: DestinationState = 'connecting';
  private reconnects = 0;
  private failuresInARow = 0;
  /** Bytes of connections that ended, plus the current connection's. */
  private bytesBefore = 0;
  private bytesNow = 0;
  private lastGrowthAt = 0;
  private spawnedAt = 0;
  private liveAt: number | undefined;
  private lastError: string | undefined;
  private readonly tail: string[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly stopWatch: () => void;
  /** The watchdog killed the current process: a stalled or never connected server, not a crash. */
  private killedByWatch = false;
  private stopped = false;
  /** Set once any connection carried media: a refusal after that is an outage to ride out, not a bad URL. */
  everLive = false;
  /** Set once the RTMP side refused or dropped a connection of this destination. */
  failedOnce = false;

  constructor(private readonly options: DestinationOptions) {
    super((error, event) => options.logger.error('destination listener failed', { event: String(event), error }));
    this.target = rtmpTarget(options.output);
    const stream = options.output.rtmpStream.replace(/^\/+/, '');
    this.maskedTarget = this.target.slice(0, this.target.length - stream.length) + '***';
    this.stopWatch = onHeartbeat(() => this.watch());
  }

  /** Spawns the first publisher; rejects only when ffmpeg cannot be run at all. */
  async start(): Promise<void> {
    await this.spawn(false);
  }

  status(): DestinationStatus {
    return {
      url: this.maskedTarget,
      state: this.state,
      reconnects: this.reconnects,
      bytesOut: this.bytesBefore + this.bytesNow,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  get bytesOut(): number {
    return this.bytesBefore + this.bytesNow;
  }

  get pid(): number | undefined {
    return this.process?.running ? this.process.pid : undefined;
  }

  /** The last lines the publisher printed, masked. */
  lastLines(): string[] {
    return [...this.tail];
  }

  /** Ends the publisher cleanly (FLV trailer) and any pending restart; safe twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch();
    clearTimeout(this.retryTimer);
    if (this.process) await stopFfmpeg(this.process);
  }

  private async spawn(joinMidStream: boolean): Promise<void> {
    this.bytesNow = 0;
    this.spawnedAt = Date.now();
    this.lastGrowthAt = this.spawnedAt;
    this.liveAt = undefined;
    this.killedByWatch = false;
    const { publisher } = this.options;
    const process = await this.options.launch({
      name: publisher.name,
      args: publisher.args(this.target, joinMidStream),
      input: publisher.input,
      onLine: (line, stream) => this.onLine(line, stream),
    });
    this.process = process;
    this.options.logger.info(`${publisher.name} started`, {
      pid: process.pid,
      output: this.maskedTarget,
      joinMidStream,
    });
    process.onExit((exit) => this.onExit(process, exit));
    if (this.stopped) await stopFfmpeg(process);
  }

  private mask(line: string): string {
    return line.split(this.target).join(this.maskedTarget);
  }

  private onLine(line: string, stream: 'stdout' | 'stderr'): void {
    if (stream === 'stderr') {
      const masked = this.mask(line);
      this.tail.push(masked);
      if (this.tail.length > TAIL) this.tail.shift();
      this.options.logger.debug(this.options.publisher.name, { line: masked });
      if (HEADER_WRITTEN.test(line)) this.grew();
      return;
    }
    // -progress blocks are key=value lines; total_size counts what the muxer has written to the connection.
    const match = /^total_size=(\d+)$/.exec(line);
    if (!match) return;
    const bytes = Number(match[1]);
    if (bytes <= this.bytesNow) return;
    this.bytesNow = bytes;
    this.grew();
  }

  private grew(): void {
    this.lastGrowthAt = Date.now();
    if (this.liveAt === undefined) {
      this.liveAt = this.lastGrowthAt;
      this.everLive = true;
      this.setState('live');
    }
    this.emit('progress', { bytesOut: this.bytesOut });
  }

  private onExit(process: OwnedProcess, exit: ProcessExit): void {
    if (process !== this.process || this.stopped || exit.closed) return;
    const error = exitCause(
      this.tail,
      (line) => RTMP_FAILURE.test(line) || /error|failed|invalid/i.test(line),
      `${this.options.publisher.name} exited (code ${exit.code}, signal ${exit.signal})`,
    );
    if (
      this.options.publisher.isEncoder &&
      !this.killedByWatch &&
      !RTMP_FAILURE.test(error) &&
      !PORT_TAKEN.test(error)
    ) {
      this.emit('encoderDied', { error });
      return;
    }
    this.retry(error);
  }

  private retry(error: string): void {
    if (PORT_TAKEN.test(error)) {
      this.emit('portTaken', { error });
      return;
    }
    const healthy = this.liveAt !== undefined && Date.now() - this.liveAt >= HEALTHY_MS;
    this.failuresInARow = healthy ? 1 : this.failuresInARow + 1;
    // Only the server's refusal counts against the URL: a probe that missed the first keyframe (a slow start
    // under load) is ours, and the restart probes for a whole keyframe interval.
    if (RTMP_FAILURE.test(error)) this.failedOnce = true;
    this.bytesBefore += this.bytesNow;
    this.bytesNow = 0;
    this.liveAt = undefined;
    this.lastError = error;
    const delay = backoffMs(this.failuresInARow);
    this.options.logger.warn('destination lost; reconnecting', { output: this.maskedTarget, error, retryInMs: delay });
    this.setState('retrying');
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.reconnects++;
      this.setState('connecting');
      this.spawn(true).catch((cause: unknown) =>
        this.retry(`${this.options.publisher.name} did not start: ${(cause as Error).message}`),
      );
    }, delay);
  }

  /** Kills a publisher that stopped moving bytes, or never connected; its exit schedules the restart. */
  private watch(): void {
    const process = this.process;
    if (!process?.running || this.stopped) return;
    const now = Date.now();
    const stalled = this.liveAt !== undefined && now - this.lastGrowthAt > STALL_MS;
    const neverConnected = this.liveAt === undefined && now - this.spawnedAt > CONNECT_TIMEOUT_MS;
    if (!stalled && !neverConnected) return;
    this.tail.push(
      stalled
        ? `no bytes accepted for ${STALL_MS} ms: connection stalled`
        : `connection timed out: not connected within ${CONNECT_TIMEOUT_MS} ms`,
    );
    this.killedByWatch = true;
    process.signal('SIGKILL');
  }

  private setState(state: DestinationState): void {
    this.state = state;
    this.emit('state', this.status());
  }
}
