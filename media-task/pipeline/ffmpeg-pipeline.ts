/**
 * The media output of one call: one encoding ffmpeg and one Destination per publishing point. With one
 * destination the encoder publishes itself, and that Destination restarts it; with several, or when the call is
 * recorded, the encoder sends MPEG-TS to local UDP relay ports and each Destination owns a republisher,
 * restarted on its own (the recorder's port is one more, its reader the call's). Picks the
 * local ports, gives the encoder its input SDP, spawns and reaps everything through OwnedProcess (the encoder of
 * a one-destination call maybe through the call's SpareEncoder).
 *
 *   peer RTP ─► RtpEndpoint ─► encoder ─► rtmp(s)://only
 *
 *   peer RTP ─► RtpEndpoint ─► encoder ─tee─► udp:relay1 ─► republisher 1 ─► rtmp(s)://first
 *                                          ├► udp:relay2 ─► republisher 2 ─► rtmp(s)://second ...
 *                                          └► udp:record ─► recorder (the call's, recorder.ts) ─► <id>.mp4
 *
 * Events: `streaming` once any destination carries media; `destinations` on every destination state change;
 * `died` when the encoder dies ('ffmpeg') or when every destination failed before any carried media ('rtmp':
 * a wrong URL or key is not an outage to ride out). After one destination has been live, outages are retried
 * for as long as the call lasts.
 */
import type { DestinationStatus } from '../../shared/call-types.ts';
import type { Logger } from '../../shared/log.ts';
import type { OwnedProcess, ProcessExit } from '../../shared/owned-process.ts';
import { TypedEmitter } from '../typed-emitter.ts';
import type { NegotiatedMedia } from '../sip/sdp.ts';
import { Destination, exitCause, STALL_MS, stopFfmpeg, type Publisher } from './destination.ts';
import {
  buildEncoderArgs,
  buildInputSdp,
  rtmpTarget,
  type EncoderSink,
  type PipelinePorts,
  type RtmpOutput,
  type VideoFill,
} from './ffmpeg-args.ts';
import { buildRepublisherArgs } from './relay-args.ts';
import { ffmpegLauncher, SpareEncoder } from './spare-encoder.ts';
import { freeUdpPort, freeUdpPortPair } from './udp-ports.ts';

export type DeathCause = 'rtmp' | 'ffmpeg';

export interface PipelineDeath {
  classification: DeathCause;
  /** One line for the call's failure event: the last line ffmpeg printed, or how it exited. */
  message: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last stderr lines of the encoder, or of the first destination's republisher, targets masked. */
  lastLines: string[];
}

export type FfmpegPipelineEvents = {
  /** The first bytes reached an RTMP server. */
  streaming: [{ at: number; bytesOut: number }];
  progress: [{ bytesOut: number }];
  /** Every destination's status, in output order, whenever one changes state. */
  destinations: [DestinationStatus[]];
  died: [PipelineDeath];
};

export interface FfmpegPipelineOptions {
  media: NegotiatedMedia;
  /** First = the call's rtmpUrl/rtmpStream. */
  outputs: readonly RtmpOutput[];
  /** What fills the video track when the peer sends none; default none (audio-only FLV). */
  fill?: VideoFill;
  /** The task's ffmpeg (ffmpeg/build.sh) or FFMPEG_PATH's. */
  ffmpegPath: string;
  /** See rtmpPublishArgs. */
  rtmpsCaFile?: string;
  /** Started for the likely answer (FfmpegPipeline.spare); used if it fits `media`, closed if not. */
  spare?: SpareEncoder;
  /** The call's recorder listens there (recorder.ts): one more relay port, so the encoder muxes MPEG-TS. */
  recordPort?: number;
  logger: Logger;
}

/** The encoder's own RTMP output when the call has one destination; undefined when it feeds republishers. */
function directSink(
  options: Pick<FfmpegPipelineOptions, 'outputs' | 'rtmpsCaFile' | 'recordPort'>,
): EncoderSink | undefined {
  const [only, ...others] = options.outputs;
  return only && others.length === 0 && options.recordPort === undefined
    ? { kind: 'rtmp', target: rtmpTarget(only), caFile: options.rtmpsCaFile }
    : undefined;
}

const TAIL = 20;

/** The video the relay ports carry, for their readers' probes: the peer's, ours (slate, waveform), or none. */
export function relayedVideo(media: NegotiatedMedia, fill: VideoFill): 'peer' | 'ours' | 'none' {
  return media.video ? 'peer' : fill.kind !== 'none' && media.audio ? 'ours' : 'none';
}

export class FfmpegPipeline extends TypedEmitter<FfmpegPipelineEvents> {
  private streamingAt: number | undefined;
  private stopping: Promise<void> | undefined;
  private dead = false;
  private readonly stderrTail: string[] = [];
  /**
   * The encoder when it feeds republishers; set right after construction (its output lines need the pipeline
   * before the process exists). Unset when it publishes itself: then it is the one Destination's process.
   */
  private encoder: OwnedProcess | undefined;

  private constructor(
    readonly inputPorts: PipelinePorts,
    private readonly destinations: readonly Destination[],
    private readonly logger: Logger,
  ) {
    super((error, event) => logger.error('ffmpeg pipeline listener failed', { event: String(event), error }));
  }

  /**
   * An encoder for `likely` media, started now, for a call of one destination. With several, the encoder's
   * arguments name relay ports that are picked at the answer, so there is no spare: undefined.
   */
  static spare(
    options: Pick<FfmpegPipelineOptions, 'outputs' | 'fill' | 'ffmpegPath' | 'rtmpsCaFile'> & {
      likely: NegotiatedMedia;
    },
  ): SpareEncoder | undefined {
    const sink = directSink(options);
    return (
      sink &&
      SpareEncoder.start(
        buildEncoderArgs({ media: options.likely, fill: options.fill ?? { kind: 'none' }, sink }),
        options.ffmpegPath,
      )
    );
  }

  /** Resolves once every ffmpeg has spawned; forward RTP to `inputPorts` from then on. */
  static async start(options: FfmpegPipelineOptions): Promise<FfmpegPipeline> {
    const logger = options.logger.child({ component: 'ffmpeg' });
    const { media, outputs } = options;
    const launch = ffmpegLauncher(options.ffmpegPath, options.spare);
    const destinations: Destination[] = [];
    let pipeline: FfmpegPipeline | undefined;
    const pending: string[] = [];
    const destination = (output: RtmpOutput, index: number, publisher: Publisher) =>
      new Destination({ output, publisher, launch, logger: logger.child({ destination: index }) });
    try {
      const ports: PipelinePorts = {};
      if (media.audio) ports.audio = await freeUdpPortPair();
      if (media.video) ports.video = await freeUdpPortPair();
      const fill = options.fill ?? { kind: 'none' };
      const direct = directSink(options);
      const relayPorts: number[] = [];
      if (!direct) for (const _ of outputs) relayPorts.push(await freeUdpPort());
      const teePorts = options.recordPort === undefined ? relayPorts : [...relayPorts, options.recordPort];
      const args = buildEncoderArgs({ media, fill, sink: direct ?? { kind: 'relay', ports: teePorts } });
      const sdp = buildInputSdp(media, ports);
      if (direct) {
        destinations.push(
          destination(outputs[0]!, 0, { name: 'ffmpeg encoder', isEncoder: true, args: () => args, input: sdp }),
        );
        await destinations[0]!.start();
        pipeline = new FfmpegPipeline(ports, destinations, logger);
        pipeline.watchDestinations();
        logger.info('ffmpeg started', {
          ports,
          fill: fill.kind,
          outputs: [destinations[0]!.maskedTarget],
          fromSpare: options.spare?.taken ?? false,
        });
        return pipeline;
      }
      const video = relayedVideo(media, fill);
      outputs.forEach((output, index) => {
        const relayPort = relayPorts[index]!;
        const args = (target: string, joinMidStream: boolean) =>
          buildRepublisherArgs({
            relayPort,
            target,
            video,
            inputTimeoutMs: STALL_MS,
            joinMidStream,
            caFile: options.rtmpsCaFile,
          });
        destinations.push(destination(output, index, { name: 'ffmpeg republisher', isEncoder: false, args }));
      });
      // Republishers first, so that they listen when the encoder's first packets (and the first keyframe) go out.
      await Promise.all(destinations.map((destination) => destination.start()));
      const encoder = await launch({
        name: 'ffmpeg encoder',
        args,
        input: sdp,
        onLine: (line, stream) => stream === 'stderr' && (pipeline ? pipeline.onStderr(line) : pending.push(line)),
      });
      pipeline = new FfmpegPipeline(ports, destinations, logger);
      pipeline.encoder = encoder;
      for (const line of pending) pipeline.onStderr(line);
      encoder.onExit((exit) => pipeline!.onEncoderExit(exit));
      pipeline.watchDestinations();
      logger.info('ffmpeg started', {
        pid: encoder.pid,
        ports,
        relayPorts,
        fill: fill.kind,
        outputs: destinations.map((d) => d.maskedTarget),
      });
      return pipeline;
    } catch (error) {
      await Promise.all([options.spare?.close(), ...destinations.map((destination) => destination.stop())]);
      throw error;
    }
  }

  /** The encoder's pid, then each running republisher's (or the one publishing encoder's): for CPU figures. */
  get pids(): number[] {
    return [this.encoder?.pid, ...this.destinations.map((destination) => destination.pid)].filter(
      (pid): pid is number => pid !== undefined,
    );
  }

  get running(): boolean {
    return !this.dead && (this.encoder?.running ?? true);
  }

  /** Bytes written to all RTMP connections so far (from each publisher's progress reports). */
  get bytesOut(): number {
    return this.destinations.reduce((sum, destination) => sum + destination.bytesOut, 0);
  }

  destinationStatus(): DestinationStatus[] {
    return this.destinations.map((destination) => destination.status());
  }

  /**
   * Clean end: the publishers first, while the encoder still feeds them: ffmpeg acts on SIGINT between two
   * packets, so a republisher whose input had already stopped would sit in its read until a second signal cut
   * it short, trailer unwritten. Then the encoder. Safe to call twice; resolves once every ffmpeg is reaped.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.dead = true;
      await Promise.all(this.destinations.map((destination) => destination.stop()));
      if (this.encoder) await stopFfmpeg(this.encoder);
    })();
    return this.stopping;
  }

  private watchDestinations(): void {
    for (const destination of this.destinations) {
      destination.on('state', () => {
        this.emit('destinations', this.destinationStatus());
        if (this.destinations.every((d) => d.failedOnce) && !this.destinations.some((d) => d.everLive)) {
          const first = this.destinations[0]!;
          this.die({
            classification: 'rtmp',
            message: first.status().lastError ?? 'no destination accepted the stream',
            code: null,
            signal: null,
            lastLines: first.lastLines(),
          });
        }
      });
      destination.on('portTaken', ({ error }) =>
        this.die({
          classification: 'ffmpeg',
          message: `port taken: ${error}`,
          code: null,
          signal: null,
          lastLines: destination.lastLines(),
        }),
      );
      destination.on('encoderDied', ({ error }) =>
        this.die({
          classification: 'ffmpeg',
          message: error,
          code: null,
          signal: null,
          lastLines: destination.lastLines(),
        }),
      );
      destination.on('progress', () => {
        if (this.dead) return;
        if (this.streamingAt === undefined) {
          this.streamingAt = Date.now();
          this.emit('streaming', { at: this.streamingAt, bytesOut: this.bytesOut });
        }
        this.emit('progress', { bytesOut: this.bytesOut });
      });
    }
  }

  private onStderr(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > TAIL) this.stderrTail.shift();
    this.logger.debug('ffmpeg', { line });
  }

  private onEncoderExit(exit: ProcessExit): void {
    if (exit.closed || this.dead) {
      this.logger.info('ffmpeg stopped', { code: exit.code, signal: exit.signal, bytesOut: this.bytesOut });
      return;
    }
    const message = exitCause(
      this.stderrTail,
      (line) => /error|failed|invalid/i.test(line),
      `ffmpeg exited (code ${exit.code}, signal ${exit.signal})`,
    );
    this.die({
      classification: 'ffmpeg',
      message,
      code: exit.code,
      signal: exit.signal,
      lastLines: [...this.stderrTail],
    });
  }

  /** Reports the death once; the owner stops what is left with stop(). */
  private die(death: PipelineDeath): void {
    if (this.dead) return;
    this.dead = true;
    this.logger.warn('ffmpeg pipeline died', {
      classification: death.classification,
      cause: death.message,
      lastLines: death.lastLines,
    });
    this.emit('died', death);
  }
}
