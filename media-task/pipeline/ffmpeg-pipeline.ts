/**
 * The owner of one call's ffmpeg: picks its local RTP ports, writes its input SDP, spawns it (through
 * OwnedProcess), turns its `-progress` output into `streaming`/`progress` events and an unrequested exit into
 * `died`, classified so the call can fail with 'rtmp' (the server refused or vanished) or 'ffmpeg'.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { OwnedProcess, type ProcessExit } from '../process/owned-process.ts';
import { TypedEmitter } from '../typed-emitter.ts';
import type { NegotiatedMedia } from '../sip/sdp.ts';
import { buildFfmpegArgs, type PipelinePorts, type RtmpOutput } from './ffmpeg-args.ts';
import { freeUdpPortPair } from './udp-ports.ts';

export type DeathCause = 'rtmp' | 'ffmpeg';

export interface PipelineDeath {
  classification: DeathCause;
  /** One line for the call's failure event: the last line ffmpeg printed, or how it exited. */
  message: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ffmpeg's last stderr lines, with the RTMP target masked. */
  lastLines: string[];
}

export type FfmpegPipelineEvents = {
  /** The first bytes reached the RTMP server. */
  streaming: [{ at: number; bytesOut: number }];
  progress: [{ bytesOut: number }];
  died: [PipelineDeath];
};

export interface FfmpegPipelineOptions {
  media: NegotiatedMedia;
  output: RtmpOutput;
  ffmpegPath?: string;
  logger: Logger;
}

const STOP_GRACE_MS = 5_000;
const FIRST_SIGNAL_MS = 300;
const TAIL = 20;
/** What ffmpeg prints when the RTMP side fails: refused connection, handshake or publish rejected, server gone. */
const RTMP_FAILURE = /connection refused|input\/output error|server error|broken pipe|connection reset|connection timed out|cannot open connection|handshake|error number -10053|failed to (connect|resolve)|no route to host|name or service not known|end of file/i;

/** Decides whether ffmpeg died of the RTMP server or of itself, from the lines it left. */
export function classifyDeath(lines: readonly string[], target: string, maskedTarget: string): DeathCause {
  return lines.some(
    (line) => RTMP_FAILURE.test(line) && (line.includes(target) || line.includes(maskedTarget) || /rtmp|tcp:\/\/|tls/i.test(line)),
  )
    ? 'rtmp'
    : 'ffmpeg';
}

export class FfmpegPipeline extends TypedEmitter<FfmpegPipelineEvents> {
  private written = 0;
  private streamingAt: number | undefined;
  private stopping: Promise<void> | undefined;
  /** Our first SIGINT may end ffmpeg before OwnedProcess.close() is called: that exit is still a requested one. */
  private stopRequested = false;
  private readonly stderrTail: string[] = [];

  private constructor(
    readonly inputPorts: PipelinePorts,
    private readonly process: OwnedProcess,
    private readonly tempDir: string,
    private readonly logger: Logger,
    private readonly mask: (line: string) => string,
    target: string,
    maskedTarget: string,
  ) {
    super((error, event) => logger.error('ffmpeg pipeline listener failed', { event: String(event), error }));
    process.onExit((exit) => this.onExit(exit, target, maskedTarget));
  }

  /** Resolves once ffmpeg has spawned; forward RTP to `inputPorts` from then on. */
  static async start(options: FfmpegPipelineOptions): Promise<FfmpegPipeline> {
    const logger = options.logger.child({ component: 'ffmpeg' });
    const ports: PipelinePorts = {};
    if (options.media.audio) ports.audio = await freeUdpPortPair();
    if (options.media.video) ports.video = await freeUdpPortPair();
    const tempDir = await mkdtemp(join(tmpdir(), 'gw-ffmpeg-'));
    const sdpPath = join(tempDir, 'input.sdp');
    let invocation: ReturnType<typeof buildFfmpegArgs>;
    try {
      invocation = buildFfmpegArgs(options.media, ports, options.output, sdpPath);
      await writeFile(sdpPath, invocation.sdp);
    } catch (error) {
      await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
    // The stream name is often the publishing key: keep it out of our logs, ffmpeg echoes the URL.
    const maskedTarget = invocation.target.slice(0, invocation.target.length - options.output.rtmpStream.replace(/^\/+/, '').length) + '***';
    const mask = (line: string) => line.split(invocation.target).join(maskedTarget);
    let pipeline: FfmpegPipeline | undefined;
    const pending: Array<[string, 'stdout' | 'stderr']> = [];
    let process: OwnedProcess;
    try {
      process = await OwnedProcess.start({
        name: 'ffmpeg',
        command: options.ffmpegPath ?? 'ffmpeg',
        args: invocation.args,
        onLine: (line, stream) => (pipeline ? pipeline.onLine(line, stream) : pending.push([line, stream])),
      });
    } catch (error) {
      await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
    pipeline = new FfmpegPipeline(ports, process, tempDir, logger, mask, invocation.target, maskedTarget);
    logger.info('ffmpeg started', { pid: process.pid, ports, output: maskedTarget });
    for (const [line, stream] of pending) pipeline.onLine(line, stream);
    return pipeline;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.running;
  }

  /** Bytes written to the RTMP connection so far (from ffmpeg's progress reports). */
  get bytesOut(): number {
    return this.written;
  }

  /**
   * Clean end: SIGINT makes ffmpeg flush the encoder and write the FLV trailer; SIGKILL after 5 s.
   * Safe to call twice; resolves once ffmpeg is reaped and its temp dir removed.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopGracefully().then(() => this.cleanup());
    return this.stopping;
  }

  private async stopGracefully(): Promise<void> {
    if (!this.process.running) return;
    this.stopRequested = true;
    // ffmpeg only looks at its first SIGINT between packets; while the RTP input is silent (peer gone) it sits in
    // a read that only a second signal interrupts. Give the first one a moment to end things the nice way.
    this.process.signal('SIGINT');
    await Promise.race([this.process.exited, new Promise((resolve) => setTimeout(resolve, FIRST_SIGNAL_MS))]);
    await this.process.close('SIGINT', STOP_GRACE_MS);
  }

  private async cleanup(): Promise<void> {
    await rm(this.tempDir, { recursive: true, force: true });
  }

  private onLine(line: string, stream: 'stdout' | 'stderr'): void {
    if (stream === 'stderr') {
      const masked = this.mask(line);
      this.stderrTail.push(masked);
      if (this.stderrTail.length > TAIL) this.stderrTail.shift();
      this.logger.debug('ffmpeg', { line: masked });
      return;
    }
    // -progress blocks are key=value lines; total_size counts what the muxer has written to the RTMP connection.
    const match = /^total_size=(\d+)$/.exec(line);
    if (!match) return;
    const bytes = Number(match[1]);
    if (bytes <= this.written) return;
    this.written = bytes;
    if (this.streamingAt === undefined) {
      this.streamingAt = Date.now();
      this.emit('streaming', { at: this.streamingAt, bytesOut: bytes });
    }
    this.emit('progress', { bytesOut: bytes });
  }

  private onExit(exit: ProcessExit, target: string, maskedTarget: string): void {
    void this.cleanup();
    if (exit.closed || this.stopRequested) {
      this.logger.info('ffmpeg stopped', { code: exit.code, signal: exit.signal, bytesOut: this.written });
      return;
    }
    const lastLines = [...this.stderrTail];
    const classification = classifyDeath(lastLines, target, maskedTarget);
    this.logger.warn('ffmpeg died', { code: exit.code, signal: exit.signal, classification, lastLines });
    // ffmpeg ends on a generic "Conversion failed!"; the line before that names the cause.
    const telling = lastLines.filter((line) => line.trim() && !/^Conversion failed!?$/.test(line.trim()));
    const message =
      [...telling].reverse().find((line) => RTMP_FAILURE.test(line) || /error|failed|invalid/i.test(line)) ??
      telling.at(-1) ??
      `ffmpeg exited (code ${exit.code}, signal ${exit.signal})`;
    this.emit('died', { classification, message, code: exit.code, signal: exit.signal, lastLines });
  }
}
