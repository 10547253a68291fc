/**
 * The RTP side of one media kind of one call. Its UDP sockets (RTP on an even port, RTCP on the next one, RFC
 * 3550 11) belong to a relay process of its own (relay/rtp-relay.c), which does the per-packet work: it receives
 * the peer's stream, keeps its statistics, forwards it as one continuous stream to the local ffmpeg, and sends
 * our comfort silence and DTMF back (symmetric RTP, RFC 4961: to where the peer's packets come from once the relay
 * has latched that source, else to the address in its SDP). This class decides what the relay does and hears what
 * it saw.
 *
 * Why a relay: a node process receiving 50 packets a second, answering each with silence and forwarding them
 * cost more than twice the encoder's CPU (4.7 % against 2.1 % of a core, one call), most of it in crossing from
 * libuv to JavaScript per packet.
 *
 * What the relay does, and why:
 * - Audio never stops towards ffmpeg: its RTP input produces nothing while no packet arrives, and the FLV behind
 *   it would stall (CDNs drop a stream whose timestamps stop). When the peer has been quiet for 120 ms (hold,
 *   loss, a muted phone, the gap of a re-INVITE, or before its first packet; longer than a peer's packet
 *   interval plus jitter, short enough that ffmpeg's 200 ms jitter buffer never runs dry) it forwards codec
 *   silence frames on the same continuous numbering, from where the peer's media stopped, until it speaks again.
 * - Comfort silence and gap filling need a 20 ms beat. While the peer streams, its packets are that beat; the
 *   relay's own clock takes over 100 ms after the peer's last packet.
 * - The peer's audio goes to ffmpeg three packets at a time, as one 60 ms packet for G.711 and G.722: one packet
 *   at a time woke the encoder 50 times a second. Held back 40 ms (until the third packet; when the peer stops,
 *   100 ms), inside ffmpeg's jitter buffer. The first packet of a call goes at once (the call's sound, and its
 *   first-media latency, start with it), and so does video, already a burst per frame.
 * - Only the negotiated payload type goes to ffmpeg: its SDP knows no other (telephone-event, CN).
 * - The level of the peer's G.711 audio is counted on the way (audio-level.ts): ffmpeg decodes those samples
 *   anyway, and a table lookup per byte in the relay costs less than a second decoder or a filter in the encode.
 * - Strict RTP: only the peer's source is heard (the rules and why are at accept_source in rtp-relay.c). The
 *   address in the peer's SDP is trusted as soon as `setRemote` passes it on, and a new one in a re-INVITE moves
 *   the latch there; a peer behind NAT that sends from another address is latched after a short in-sequence run
 *   instead. Packets from any other source reach neither ffmpeg, nor the statistics, nor the inactivity timeout,
 *   and never redirect our outgoing stream; they are counted as `foreignDropped` (so are a NAT'd peer's packets
 *   of the run before its latch, and packets before the answer has signalled any address).
 */
import { isIPv4 } from 'node:net';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { OwnedProcess } from '../../shared/owned-process.ts';
import { TypedEmitter } from '../typed-emitter.ts';
import type { NegotiatedStream } from '../sip/sdp.ts';
import { RtpSender } from './rtp-sender.ts';
import { silenceFrame } from './silence.ts';

export class RtpBindError extends Error {
  override name = 'RtpBindError';
  constructor(
    message: string,
    readonly bindAddress: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RtpEndpointOptions {
  kind: 'audio' | 'video';
  bindAddress: string;
  /** Inclusive; an even port inside it is picked. Without it the OS picks. */
  portRange?: { min: number; max: number };
  /** The relay's executable (built next to the bundle, media-task/bundle.ts). */
  relay: string;
  logger?: Logger;
}

/** Packets, loss and jitter (ms) of the peer's stream, RFC 3550 A.3/A.8; `lastPacketAt` (Date.now()) for the inactivity timeout. */
export interface RtpStatsSnapshot {
  packets: number;
  lost: number;
  jitterMs: number;
  lastPacketAt?: number;
  /** RTP packets dropped because they came from a source other than the peer's (strict RTP). */
  foreignDropped: number;
  /** G.711 samples of the peer's audio since the start, and the sum of their squares (16-bit linear): see audio-level.ts. */
  levelSamples: number;
  levelEnergy: number;
}

export type RtpEndpointEvents = {
  /** The first RTP packet from the peer: the moment media starts, for latency figures and timeouts. */
  firstPacket: [{ at: number; address: string; port: number }];
  /** A new SSRC (re-INVITE, peer restart); the stream to ffmpeg stays continuous. */
  sourceChanged: [{ ssrc: number; address: string; port: number }];
  /** The peer's media comes from this address, not its SDP's (NAT): heard, and answered, from now on. */
  sourceLatched: [{ address: string; port: number }];
};

/** Codecs whose packets concatenate: one payload byte per clock tick, no frame boundaries (RFC 3551 4.5). */
const JOINABLE = new Set(['PCMU', 'PCMA', 'G722']);
/** Codecs whose audio level the relay measures: one sample per byte, decoded by a table. */
const LEVELLED: Record<string, string> = { PCMU: 'pcmu', PCMA: 'pcma' };
/** A stats request the relay does not answer (it died) falls back to its last answer. */
const STATS_TIMEOUT_MS = 1_000;

export class RtpEndpoint extends TypedEmitter<RtpEndpointEvents> {
  private stream: NegotiatedStream | undefined;
  private forwardPort: number | undefined;
  private readonly sender: RtpSender;
  /** The relay's last answer to `stats`. */
  private latest: RtpStatsSnapshot = {
    packets: 0,
    lost: 0,
    jitterMs: 0,
    foreignDropped: 0,
    levelSamples: 0,
    levelEnergy: 0,
  };
  private readonly statsWaiters = new Set<() => void>();
  private closed = false;

  private constructor(
    readonly kind: 'audio' | 'video',
    /** The even RTP port to put in the SDP offer; RTCP is on port + 1. */
    readonly port: number,
    private readonly relay: OwnedProcess,
    private readonly logger: Logger,
  ) {
    super((error, event) => logger.error('rtp endpoint listener failed', { event: String(event), error }));
    this.sender = new RtpSender({
      silence: (frame) =>
        this.command(
          frame ? `silence ${frame.payloadType} ${frame.clockRate} ${frame.payload.toString('hex')}` : 'silence off',
        ),
      event: (packet) =>
        this.command(
          `event ${packet.payloadType} ${packet.clockRate} ${Number(packet.first)} ${Number(packet.end)} ${packet.startedAtMs.toFixed(3)} ${packet.payload.toString('hex')}`,
        ),
    });
    relay.onExit((exit) => {
      if (!this.closed) logger.error('rtp relay exited', { code: exit.code, signal: exit.signal });
      this.answerStats();
    });
  }

  /** Starts the relay, which binds the RTP/RTCP pair; `port` is the even RTP port to put in the SDP offer. */
  // `override` only because TypeScript sees Function.prototype.bind on the constructor; nothing calls that one.
  static override async bind(options: RtpEndpointOptions): Promise<RtpEndpoint> {
    const logger = (options.logger ?? silentLogger).child({ component: 'rtp', kind: options.kind });
    const range = options.portRange;
    let endpoint: RtpEndpoint | undefined;
    let port = 0;
    let relay: OwnedProcess;
    try {
      relay = await OwnedProcess.start({
        name: `rtp-relay ${options.kind}`,
        command: options.relay,
        args: [options.kind, options.bindAddress, String(range?.min ?? 0), String(range?.max ?? 0)],
        stdin: true,
        diesWithOwner: true,
        readyWhen: (line, stream) => stream === 'stdout' && line.startsWith('bound '),
        onLine: (line, stream) => {
          if (stream === 'stderr') logger.warn('rtp relay', { line });
          else if (line.startsWith('bound ')) port = Number(line.slice(6));
          else endpoint?.onRelayLine(line);
        },
      });
    } catch (error) {
      const said = (error as { lastLines?: string[] }).lastLines?.find((line) => line.startsWith('error '));
      throw new RtpBindError(said?.slice(6) ?? (error as Error).message, options.bindAddress, { cause: error });
    }
    endpoint = new RtpEndpoint(options.kind, port, relay, logger);
    logger.debug('rtp bound', { port });
    return endpoint;
  }

  /**
   * The negotiated stream (from the answer, or a re-INVITE); safe to call again. Its address is the peer's as far
   * as strict RTP goes: a new one moves the relay's latch there, the same one again keeps what the relay learned.
   */
  setRemote(stream: NegotiatedStream): void {
    this.stream = stream;
    // The values come from the peer's SDP, which sdp.ts has already held to an IPv4 literal, a port, a 7-bit
    // payload type and a codec we offered at its clock rate; checked again here, as they become a command line.
    const { payloadType: pt, clockRate, remoteAddress, remotePort } = stream;
    if (![pt, clockRate, remotePort].every(Number.isInteger) || !isIPv4(remoteAddress)) {
      this.logger.warn('rtp stream not usable', { payloadType: pt, clockRate, remotePort });
      return;
    }
    const fill = this.kind === 'audio' ? silenceFrame(stream.codec, clockRate)?.payload.toString('hex') : undefined;
    const codec = stream.codec.toUpperCase();
    const join = JOINABLE.has(codec) ? 1 : 0;
    const level = (this.kind === 'audio' && LEVELLED[codec]) || '-';
    this.command(`stream ${pt} ${clockRate} ${join} ${remoteAddress} ${remotePort} ${fill ?? '-'} ${level}`);
  }

  /** Starts forwarding the peer's media packets to ffmpeg's RTP input; packets before this are counted, not kept. */
  forwardTo(port: number): void {
    if (this.closed || this.forwardPort === port) return;
    this.forwardPort = port;
    this.command(`forward ${port}`);
  }

  /** Packets, loss and jitter of the peer's stream, as the relay counts them now. */
  async stats(): Promise<RtpStatsSnapshot> {
    if (!this.closed && this.relay.running) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, STATS_TIMEOUT_MS);
        const waiters = this.statsWaiters;
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        this.statsWaiters.add(done);
        this.command('stats');
      });
    }
    return this.latest;
  }

  /** setRemote + forwardTo, for the answer and for every re-INVITE after it. */
  connect(stream: NegotiatedStream, ffmpegPort: number): void {
    this.setRemote(stream);
    this.forwardTo(ffmpegPort);
  }

  /** 20 ms silence frames at the negotiated PT until close(); false if the codec or direction rules it out. */
  startComfortSilence(stream: NegotiatedStream): boolean {
    if (this.closed) return false;
    if (!this.stream) this.setRemote(stream);
    return this.sender.startSilence(stream);
  }

  stopComfortSilence(): void {
    this.sender.stopSilence();
  }

  /** RFC 4733 events on our outgoing stream; resolves when the last end packet has left. */
  sendDtmf(digits: string, stream: NegotiatedStream): Promise<void> {
    if (!this.stream) this.setRemote(stream);
    return this.sender.sendDtmf(digits, stream);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sender.close();
    this.answerStats();
    void this.relay.close('SIGTERM', 1_000);
  }

  private command(line: string): void {
    if (!this.closed) this.relay.writeLine(line);
  }

  private answerStats(): void {
    for (const done of [...this.statsWaiters]) done();
  }

  private onRelayLine(line: string): void {
    const [word, ...fields] = line.split(' ');
    switch (word) {
      case 'stats': {
        const [packets, lost, jitterMs, lastPacketAt, foreignDropped, levelSamples, levelEnergy] = fields.map(
          Number,
        ) as [number, number, number, number, number, number, number];
        this.latest = {
          packets,
          lost,
          jitterMs,
          ...(lastPacketAt >= 0 ? { lastPacketAt } : {}),
          foreignDropped,
          levelSamples,
          levelEnergy,
        };
        this.answerStats();
        break;
      }
      case 'first':
        this.emit('firstPacket', { address: fields[0]!, port: Number(fields[1]), at: Number(fields[2]) });
        break;
      case 'source':
        this.logger.info('rtp source changed', { ssrc: Number(fields[0]) });
        this.emit('sourceChanged', { ssrc: Number(fields[0]), address: fields[1]!, port: Number(fields[2]) });
        break;
      case 'latched':
        this.logger.info('rtp source latched', { address: fields[0], port: Number(fields[1]) });
        this.emit('sourceLatched', { address: fields[0]!, port: Number(fields[1]) });
        break;
      default:
        this.logger.warn('rtp relay', { line });
    }
  }
}
