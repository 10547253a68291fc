import { join } from 'node:path';
import type { CallSpec, CallStats, StateEventBody, TaskCommand, VideoMode } from '../shared/call-types.ts';
import { recordingFileName } from '../shared/recording-names.ts';
import { onHeartbeat } from './heartbeat.ts';
import type { PortRange } from '../shared/task-env.ts';
import type { Logger } from '../shared/log.ts';
import type { RtmpOutput, VideoFill } from './pipeline/ffmpeg-args.ts';
import { FfmpegPipeline, relayedVideo } from './pipeline/ffmpeg-pipeline.ts';
import { Recorder, type RecordingFile } from './pipeline/recorder.ts';
import { ensureSlateClip } from './pipeline/slate.ts';
import type { SpareEncoder } from './pipeline/spare-encoder.ts';
import { freeUdpPort } from './pipeline/udp-ports.ts';
import { levelBetween, type LevelCounters } from './rtp/audio-level.ts';
import { bindCallEndpoints, type CallEndpoints } from './rtp/call-endpoints.ts';
import type { RtpEndpoint } from './rtp/rtp-endpoint.ts';
import { likelyAnswer, type LocalMedia, type NegotiatedMedia, type NegotiatedStream } from './sip/sdp.ts';
import { startSipCall, type SipCall } from './sip/sip-call.ts';

export interface CallRunnerOptions {
  spec: CallSpec;
  /** Local interface for the SIP and RTP sockets. */
  bindAddress: string;
  /** Advertised in Contact and SDP: a Fargate task's public IP is not on any of its interfaces. */
  publicAddress: string;
  report: (event: StateEventBody) => Promise<void>;
  logger: Logger;
  /** The task's ffmpeg (ffmpeg/build.sh) or FFMPEG_PATH's. */
  ffmpegPath: string;
  /** The RTP relay's executable (media-task/relay/rtp-relay.c, built next to the bundle). */
  relayPath: string;
  /** See RepublisherPlan.caFile. */
  rtmpsCaFile?: string;
  statsIntervalMs?: number;
  inviteTimeoutMs?: number;
  /** MEDIA_PORTS: where the SIP socket and the RTP/RTCP pairs bind; absent, the OS picks. */
  mediaPorts?: PortRange;
  /** Where a recording the spec asks for is written (`<recordingId>.mp4`); absent, the task has nowhere to. */
  recordingDir?: string;
  /** Every stats report's figures, with the task's own counters (AWS: the EMF lines of task-metrics.ts). */
  onFigures?: (figures: TaskFigures) => void;
  /** Bound before the call came (a standby task); absent, the call binds its own. */
  endpoints?: CallEndpoints;
}

/** What the task measures at each stats report: the call's stats and what only the task knows. */
export type TaskFigures = CallStats & { encoderRestarts: number; recordingBytes: number };

type FinalEvent = Extract<StateEventBody, { type: 'ended' } | { type: 'failed' }>;

const PAUSE_MS = 500;
const MAX_ENCODER_RESTARTS = 3;
const ENCODER_RESTART_DELAY_MS = 300;
const HANGUP_GRACE_MS = 4_000;

/** The peer should be sending on this stream: it did not put it on hold (a=inactive, a=recvonly). */
function expectsStream(stream: NegotiatedStream | undefined): boolean {
  return stream !== undefined && (stream.peerDirection === 'sendrecv' || stream.peerDirection === 'sendonly');
}

function expectsMedia(media: NegotiatedMedia): boolean {
  return expectsStream(media.audio) || expectsStream(media.video);
}

/**
 * Runs one call from INVITE to final state: SIP dialog, RTP endpoints, the ffmpeg pipeline, DTMF, the limits
 * that protect a pay-per-use user (max duration, RTP inactivity) and the state events. `done` resolves once the
 * final event has been reported and everything the call opened is closed.
 */
export class CallRunner {
  readonly done: Promise<FinalEvent>;
  private resolveDone!: (event: FinalEvent) => void;
  private sip: SipCall | undefined;
  private pipeline: FfmpegPipeline | undefined;
  private readonly endpoints: { audio?: RtpEndpoint; video?: RtpEndpoint } = {};
  private media: NegotiatedMedia = {};
  private answeredAt: number | undefined;
  /** When a re-INVITE last took the call off hold. */
  private resumedAt: number | undefined;
  private checkingInactivity = false;
  /** The relay's level counters at the last stats report: the next one's level covers what came since. */
  private levelRead: LevelCounters = { levelSamples: 0, levelEnergy: 0 };
  /** Set when we decide to end the call, so the SIP `ended` that follows carries our reason, not a plain hang-up. */
  private pendingFinal: FinalEvent | undefined;
  private final: FinalEvent | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopHeartbeat: (() => void) | undefined;
  private streamingReported = false;
  private encoderRestarts = 0;
  private stopping = false;
  /** Encoded while the phone rings; undefined when the call needs no slate. */
  private slate: Promise<string | undefined> | undefined;
  /** The encoder started while the phone rings, until the answer takes it or the call ends. */
  private spare: SpareEncoder | undefined;
  /** Started at the answer when the spec asks for a recording; it outlives encoder restarts. */
  private recorder: Promise<{ recorder: Recorder; port: number } | undefined> | undefined;
  private recordingError: string | undefined;
  /**
   * The closed recording, once the call is over and its recorder stopped; undefined when the call asked for
   * none or never got to record. Settles before `done`.
   */
  readonly recording: Promise<RecordingFile | undefined>;
  private resolveRecording!: (file: RecordingFile | undefined) => void;

  constructor(private readonly options: CallRunnerOptions) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.recording = new Promise((resolve) => (this.resolveRecording = resolve));
  }

  async start(): Promise<void> {
    const { spec, logger } = this.options;
    // The slate first: it takes the longest.
    if (videoMode(spec) === 'slate') {
      this.slate = ensureSlateClip({
        title: spec.title,
        ffmpegPath: this.options.ffmpegPath,
        logger: logger.child({ component: 'slate' }),
      }).catch((error: unknown) => {
        // A call without its slate still streams its audio; the CDN may refuse it, the destination status will say.
        logger.error('slate not available; publishing audio only', { error });
        return undefined;
      });
    }
    // Not awaited: the reporter keeps the events in order, and on AWS a PutEvents round trip would hold the
    // INVITE back by as much.
    void this.options.report({ type: 'dialing' });
    const { bindAddress, relayPath, mediaPorts } = this.options;
    const { audio, video } =
      this.options.endpoints ??
      (await bindCallEndpoints({ bindAddress, relayPath, ...(mediaPorts ? { mediaPorts } : {}), logger }));
    // Kept even if the other failed, so that finish() closes it.
    if (audio.status === 'fulfilled') this.endpoints.audio = audio.value;
    if (video.status === 'fulfilled') this.endpoints.video = video.value;
    if (audio.status === 'rejected' || video.status === 'rejected') {
      const reason = (audio.status === 'rejected' ? audio.reason : (video as PromiseRejectedResult).reason) as Error;
      await this.finish({ type: 'failed', reason: 'internal', message: `could not bind RTP ports: ${reason.message}` });
      return;
    }
    const local: LocalMedia = {
      address: this.options.publicAddress,
      audio: { port: audio.value.port, direction: spec.hasAudio ? 'sendrecv' : 'recvonly' },
      video: { port: video.value.port, direction: spec.hasVideo ? 'sendrecv' : 'recvonly' },
    };
    const { connection } = spec;
    const sip = startSipCall({
      transport: connection.transport,
      target: { user: spec.callee, host: connection.sipDomain, port: connection.sipPort },
      from: { user: connection.sipLogin, domain: connection.sipDomain },
      credentials: {
        username: connection.sipAuthenticationName || connection.sipLogin,
        password: connection.sipPassword,
      },
      register: connection.sipRegisterRequired,
      bindAddress: this.options.bindAddress,
      ...(mediaPorts ? { bindPortRange: mediaPorts } : {}),
      publicAddress: this.options.publicAddress,
      local,
      inviteTimeoutMs: this.options.inviteTimeoutMs,
      logger: logger.child({ component: 'sip' }),
    });
    this.sip = sip;
    // After the INVITE has left: the spare's spawn would hold it back, and a callee takes longer to answer.
    void this.startSpare();
    sip.on('ringing', () => void this.options.report({ type: 'ringing' }));
    sip.on('answered', (media) => void this.onAnswered(media));
    sip.on('mediaChanged', (media) => this.onMediaChanged(media));
    sip.on(
      'ended',
      (ended) =>
        void this.finish(
          this.pendingFinal ?? {
            type: 'ended',
            by: ended.by,
            reason: ended.reason,
            sipCode: ended.sipCode,
            durationSeconds: this.durationSeconds(),
          },
        ),
    );
    sip.on('failed', (failed) => void this.finish({ type: 'failed', ...failed }));
    this.timers.push(
      setTimeout(
        () => this.endCall({ type: 'ended', by: 'limit', reason: 'max-duration', durationSeconds: 0 }),
        spec.maxDurationSeconds * 1000,
      ),
    );
  }

  /** Hang up (BYE, or CANCEL before answer): SIGTERM, an API hang-up, or a limit. */
  hangup(): void {
    this.endCall({ type: 'ended', by: 'local', reason: 'hangup', durationSeconds: 0 });
  }

  command(command: TaskCommand): void {
    if (command.type === 'hangup') this.hangup();
    else void this.sendDtmf(command.digits, command.method);
  }

  private async onAnswered(media: NegotiatedMedia): Promise<void> {
    const { spec } = this.options;
    this.answeredAt = Date.now();
    this.media = media;
    // Not awaited: the reporter keeps the events in order, and on AWS a PutEvents round trip would hold the
    // broadcast's start back by as much.
    void this.options.report({ type: 'answered' });
    if (!media.audio && !media.video) {
      this.endCall({ type: 'failed', reason: 'sip', message: 'the peer accepted no media stream' });
      return;
    }
    this.tellRelays(media);
    if (!(await this.startPipeline())) return;
    this.stopHeartbeat = onHeartbeat(() => void this.checkInactivity());
    this.timers.push(setInterval(() => void this.reportStats(), this.options.statsIntervalMs ?? 10_000));
    if (spec.dtmf) void this.sendDtmf(spec.dtmf);
  }

  private async startSpare(): Promise<void> {
    // A recorded call's encoder feeds relay ports, picked at the answer: no arguments to guess yet.
    if (this.options.spec.record) return;
    const fill = await this.videoFill();
    if (this.answeredAt !== undefined || this.stopping) return;
    const { ffmpegPath, rtmpsCaFile } = this.options;
    try {
      this.spare = FfmpegPipeline.spare({
        outputs: this.outputs(),
        fill,
        ffmpegPath,
        rtmpsCaFile,
        likely: likelyAnswer(),
      });
    } catch {
      // Arguments that cannot be built fail again at the answer, where the call fails with the reason.
    }
  }

  private outputs(): RtmpOutput[] {
    const { spec } = this.options;
    return [
      { rtmpUrl: spec.rtmpUrl, rtmpStream: spec.rtmpStream },
      ...(spec.destinations ?? []).map((d) => ({ rtmpUrl: d.url, rtmpStream: d.stream })),
    ];
  }

  /**
   * Starts (or restarts) the encoder for the negotiated media and points the RTP endpoints at it; false when the
   * call is over. An encoder that dies for its own reasons (not a refusing RTMP server) is restarted a few times:
   * the broadcast resumes within about a second instead of the call failing.
   */
  private async startPipeline(): Promise<boolean> {
    const { logger, ffmpegPath, rtmpsCaFile } = this.options;
    const spare = this.spare;
    this.spare = undefined;
    try {
      const fill = await this.videoFill();
      this.recorder ??= this.startRecorder(relayedVideo(this.media, fill));
      const recordPort = (await this.recorder)?.port;
      const pipeline = await FfmpegPipeline.start({
        media: this.media,
        outputs: this.outputs(),
        fill,
        ffmpegPath,
        rtmpsCaFile,
        spare,
        ...(recordPort === undefined ? {} : { recordPort }),
        logger: logger.child({ component: 'ffmpeg' }),
      });
      this.pipeline = pipeline;
      if (this.stopping) {
        await pipeline.stop();
        return false;
      }
      pipeline.on('streaming', () => {
        if (this.streamingReported) return;
        this.streamingReported = true;
        void this.options.report({ type: 'streaming' });
      });
      // A destination that drops or comes back is news for whoever watches the broadcast: report it now.
      pipeline.on('destinations', () => void this.reportStats());
      pipeline.on('died', (death) => {
        if (death.classification === 'ffmpeg' && this.encoderRestarts < MAX_ENCODER_RESTARTS && !this.stopping) {
          this.encoderRestarts++;
          logger.warn('encoder died; restarting it', { restart: this.encoderRestarts, cause: death.message });
          void pipeline.stop().then(() => setTimeout(() => void this.startPipeline(), ENCODER_RESTART_DELAY_MS));
          return;
        }
        this.endCall({ type: 'failed', reason: death.classification, message: death.message });
      });
      this.connectMedia(this.media);
      return true;
    } catch (error) {
      this.endCall({ type: 'failed', reason: 'ffmpeg', message: `ffmpeg did not start: ${(error as Error).message}` });
      return false;
    }
  }

  /**
   * The recorder, listening before the encoder's first packets go out; undefined when the call asked for no
   * recording or it could not start, which the call survives: the broadcast comes first.
   */
  private async startRecorder(
    video: 'peer' | 'ours' | 'none',
  ): Promise<{ recorder: Recorder; port: number } | undefined> {
    const { spec, recordingDir, ffmpegPath, logger } = this.options;
    if (!spec.record || !spec.recordingId) return undefined;
    if (!recordingDir) {
      this.recordingError = 'this task has no place to write recordings to';
      logger.error('recording asked for, but the task has no place for it', {});
      return undefined;
    }
    try {
      const port = await freeUdpPort();
      const path = join(recordingDir, recordingFileName(spec.recordingId));
      const recorder = await Recorder.start({
        relayPort: port,
        path,
        video,
        ffmpegPath,
        logger: logger.child({ component: 'recorder' }),
      });
      return { recorder, port };
    } catch (error) {
      this.recordingError = `the recorder did not start: ${(error as Error).message}`;
      logger.error('recording not started; the broadcast goes on', { error });
      return undefined;
    }
  }

  /** Stops the recorder (if any) and settles `recording`. */
  private async closeRecording(): Promise<void> {
    const started = await this.recorder;
    const file = started
      ? await started.recorder.stop()
      : this.recordingError && this.answeredAt !== undefined
        ? { path: '', bytes: 0, error: this.recordingError }
        : undefined;
    this.resolveRecording(file);
  }

  private async videoFill(): Promise<VideoFill> {
    const mode = videoMode(this.options.spec);
    if (mode === 'waveform') return { kind: 'waveform' };
    const clipPath = mode === 'slate' ? await this.slate : undefined;
    return clipPath ? { kind: 'slate', clipPath } : { kind: 'none' };
  }

  private onMediaChanged(media: NegotiatedMedia): void {
    this.options.logger.info('peer changed the media', {
      audio: media.audio?.peerDirection,
      video: media.video?.peerDirection,
    });
    // Back from a hold, the timeout counts from now: the last packet came before the hold, maybe long ago.
    if (!expectsMedia(this.media) && expectsMedia(media)) this.resumedAt = Date.now();
    this.media = media;
    if (this.pipeline) this.connectMedia(media);
    else this.tellRelays(media);
  }

  /**
   * The peer's addresses to the relays as soon as signalling gives them, not once the encoder runs: strict RTP
   * latches the signalled source at once (a re-INVITE's new c=/m= moves it), so the peer's first packets are
   * heard and none of them counted as foreign. connectMedia repeats them, which keeps what the relays learned.
   */
  private tellRelays(media: NegotiatedMedia): void {
    for (const kind of ['audio', 'video'] as const) {
      const stream = media[kind];
      if (stream) this.endpoints[kind]?.setRemote(stream);
    }
  }

  /** Points each endpoint at ffmpeg and starts comfort silence where we offered sendrecv and the peer listens. */
  private connectMedia(media: NegotiatedMedia): void {
    for (const kind of ['audio', 'video'] as const) {
      const endpoint = this.endpoints[kind];
      const stream = media[kind];
      const ffmpegPort = this.pipeline?.inputPorts[kind];
      if (!endpoint || !stream || ffmpegPort === undefined) continue;
      endpoint.connect(stream, ffmpegPort);
    }
    const audio = media.audio;
    const peerListens = audio && (audio.peerDirection === 'sendrecv' || audio.peerDirection === 'recvonly');
    if (this.options.spec.hasAudio && audio && peerListens) this.endpoints.audio?.startComfortSilence(audio);
    else this.endpoints.audio?.stopComfortSilence();
  }

  private async checkInactivity(): Promise<void> {
    const timeoutMs = this.options.spec.rtpTimeoutSeconds * 1000;
    const { audio, video } = this.media;
    // On hold (a=inactive / a=recvonly from the peer) silence is expected and must not end the broadcast. A relay
    // that does not answer delays its check by up to a second; the next beat does not pile another one on.
    if (!expectsMedia(this.media) || this.checkingInactivity) return;
    this.checkingInactivity = true;
    // Asked now rather than pushed by the relays, and only those whose peer should be sending: their answers
    // come within the same wake-up as the heartbeat.
    const [audioStats, videoStats] = await Promise.all([
      expectsStream(audio) ? this.endpoints.audio?.stats() : undefined,
      expectsStream(video) ? this.endpoints.video?.stats() : undefined,
    ]);
    this.checkingInactivity = false;
    const lastPacketAt = Math.max(
      this.answeredAt ?? 0,
      this.resumedAt ?? 0,
      audioStats?.lastPacketAt ?? 0,
      videoStats?.lastPacketAt ?? 0,
    );
    if (Date.now() - lastPacketAt > timeoutMs) {
      this.endCall({ type: 'ended', by: 'limit', reason: 'rtp-timeout', durationSeconds: 0 });
    }
  }

  private async sendDtmf(digits: string, method?: 'rfc4733' | 'info'): Promise<void> {
    const audio = this.media.audio;
    try {
      if (method !== 'info' && audio?.telephoneEvent && this.endpoints.audio) {
        await this.endpoints.audio.sendDtmf(digits, audio);
        return;
      }
      for (const digit of digits) {
        if (digit === ',' || digit === 'w') await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
        else await this.sip?.sendInfoDtmf(digit, 160);
      }
    } catch (error) {
      this.options.logger.warn('DTMF not sent', { error });
    }
  }

  private async reportStats(): Promise<void> {
    const stats = await this.stats();
    await this.tellFigures(stats);
    await this.options.report({ type: 'stats', ...stats });
  }

  /** The figures of the task's metrics; `recordingBytes` once the recording is closed, else its size now. */
  private async tellFigures(stats: CallStats, recordingBytes?: number): Promise<void> {
    if (!this.options.onFigures) return;
    const bytes = recordingBytes ?? (await (await this.recorder)?.recorder.bytes()) ?? 0;
    this.options.onFigures({ ...stats, encoderRestarts: this.encoderRestarts, recordingBytes: bytes });
  }

  private async stats(): Promise<CallStats> {
    const [audio, video] = await Promise.all([this.endpoints.audio?.stats(), this.endpoints.video?.stats()]);
    const audioLevelDb = audio ? levelBetween(this.levelRead, audio) : undefined;
    if (audio) this.levelRead = audio;
    return {
      rtpPackets: (audio?.packets ?? 0) + (video?.packets ?? 0),
      rtpLost: (audio?.lost ?? 0) + (video?.lost ?? 0),
      jitterMs: Math.max(audio?.jitterMs ?? 0, video?.jitterMs ?? 0),
      rtpForeignDropped: (audio?.foreignDropped ?? 0) + (video?.foreignDropped ?? 0),
      bytesOut: this.pipeline?.bytesOut ?? 0,
      ...(this.pipeline ? { destinations: this.pipeline.destinationStatus() } : {}),
      ...(audioLevelDb === undefined ? {} : { audioLevelDb }),
    };
  }

  private durationSeconds(): number {
    return this.answeredAt === undefined ? 0 : Math.round((Date.now() - this.answeredAt) / 100) / 10;
  }

  /** Our side decides to end the call: remember why, then hang up; `finish` runs when SIP confirms. */
  private endCall(final: FinalEvent): void {
    if (this.stopping) return;
    this.stopping = true;
    this.pendingFinal = final;
    if (!this.sip) {
      void this.finish(final);
      return;
    }
    // A BYE the peer never answers runs into timer F (32 s), far past ECS's stop grace: the call is over for us
    // once the BYE is out, so the final state does not wait more than a few seconds for the 200.
    const grace = new Promise((resolve) => setTimeout(resolve, HANGUP_GRACE_MS));
    void Promise.race([this.sip.hangup(), grace]).finally(() => this.finish(final));
  }

  private async finish(final: FinalEvent): Promise<void> {
    if (this.final) return;
    this.stopping = true;
    const event: FinalEvent = final.type === 'ended' ? { ...final, durationSeconds: this.durationSeconds() } : final;
    this.final = event;
    for (const timer of this.timers) clearTimeout(timer);
    this.stopHeartbeat?.();
    const stats = await this.stats();
    this.options.logger.info('call finished', { ...event, ...stats });
    // The final state goes out before the clean-up: on a loaded host, stopping ffmpeg can outlast the task's
    // shutdown deadline, and a call whose final event was never sent would be recorded as crashed.
    await this.options.report({ type: 'stats', ...stats });
    await this.options.report(event);
    // The recorder stops while the encoder still feeds it, as the republishers do (FfmpegPipeline.stop).
    await Promise.all([this.pipeline?.stop(), this.spare?.close(), this.closeRecording()]);
    // What the call did since the last report counts too: the whole file, the last bytes sent.
    await this.tellFigures(await this.stats(), (await this.recording)?.bytes);
    await this.sip?.hangup();
    this.endpoints.audio?.close();
    this.endpoints.video?.close();
    this.resolveDone(event);
  }
}

/**
 * `video` absent: a slate, since the big CDNs refuse audio-only ingest, unless the request said `hasVideo: false`
 * (an audio-only broadcast asked for explicitly). Only used when the peer sends no video of its own.
 */
export function videoMode(spec: CallSpec): VideoMode {
  return spec.video ?? (spec.hasVideo ? 'slate' : 'none');
}
