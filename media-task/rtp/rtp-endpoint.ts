/**
 * The RTP side of one media kind of one call. Owns the UDP sockets bound before the offer is sent (RTP on an
 * even port, RTCP on the next one, RFC 3550 11), receives the peer's stream, keeps its statistics, forwards it as
 * one continuous stream to the local ffmpeg, and sends our comfort silence and DTMF back (symmetric RTP, RFC 4961:
 * to wherever the peer's packets come from, else to the address in its SDP).
 *
 * Audio never stops towards ffmpeg: its RTP input produces nothing while no packet arrives, and the FLV behind
 * it would stall (CDNs drop a stream whose timestamps stop). When the peer has been quiet for `FILL_AFTER_MS`
 * (hold, loss, a muted phone, the gap of a re-INVITE, or before its first packet) we forward codec silence
 * frames on the same continuous numbering, from where the peer's media stopped, until it speaks again.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { silentLogger, type Logger } from '../log.ts';
import { TypedEmitter } from '../typed-emitter.ts';
import type { NegotiatedStream } from '../sip/sdp.ts';
import { joinable, RtpJoiner, type ForwardedPacket } from './rtp-joiner.ts';
import { buildRtp, parseRtp } from './rtp-packet.ts';
import { RtpRewriter } from './rtp-rewriter.ts';
import { RtpSender } from './rtp-sender.ts';
import { RtpStats, type RtpStatsSnapshot } from './rtp-stats.ts';
import { FRAME_MS, silenceFrame } from './silence.ts';

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
  logger?: Logger;
}

export type RtpEndpointEvents = {
  /** The first RTP packet from the peer: the moment media starts, for latency figures and timeouts. */
  firstPacket: [{ at: number; address: string; port: number }];
  /** A new SSRC or restarted numbering (re-INVITE, peer restart); the stream to ffmpeg stays continuous. */
  sourceChanged: [{ ssrc: number; address: string; port: number }];
};

const DEFAULT_CLOCK = { audio: 8000, video: 90000 } as const;
/**
 * Longer than a peer's packet interval plus normal jitter (20–60 ms), short enough that ffmpeg's jitter buffer
 * (max_delay 200 ms) never runs dry, so the output keeps its pace.
 */
export const FILL_AFTER_MS = 120;
/**
 * No packet from the peer for this long, and our own clock takes over pacing silence. The refreshed timer still
 * wakes the loop once per QUIET_MS (Node re-checks its list then): at 40 ms that was a quarter of a call's Node
 * CPU. The price of 100: when the peer stops, our silence to it pauses that long, then what fell due goes at
 * once. A jitter buffer plays that as the silence it is, and RTP timeouts count seconds.
 */
const QUIET_MS = 5 * FRAME_MS;
/**
 * The peer's audio goes to ffmpeg three packets at a time (one 60 ms packet for G.711 and G.722, rtp-joiner.ts):
 * one a packet woke the encoder 50 times a second, at ~0.1 ms of CPU a wake-up. Held back 40 ms (until the third
 * packet; when the peer stops, QUIET_MS), inside ffmpeg's 200 ms jitter buffer; the first packet of a call, and
 * video (already a burst per frame), go at once.
 */
export const FORWARD_BATCH = 3;
/** 200 ms of audio: what ffmpeg's jitter buffer (max_delay) would hold. */
const MAX_HELD = 10;

export class RtpEndpoint extends TypedEmitter<RtpEndpointEvents> {
  private stream: NegotiatedStream | undefined;
  private clockRate = 0;
  private receiver: RtpStats | undefined;
  private rewriter: RtpRewriter | undefined;
  /** Connected to `forwardTarget` (unset until it is): a connected send skips the per-packet address lookup. */
  private forwardSocket: Socket | undefined;
  private forwardTarget: { address: string; port: number } | undefined;
  private learned: { address: string; port: number } | undefined;
  private currentSsrc: number | undefined;
  private readonly sender: RtpSender;
  /**
   * Comfort silence and gap filling need a 20 ms beat. While the peer streams, its packets are that beat; only
   * while it is quiet does `pacer` tick (an event loop wake-up costs ~0.1 ms of CPU here, and three a packet
   * were most of a call's Node CPU). `quiet` is re-armed by every packet and starts the pacer when none came.
   */
  private pacer: NodeJS.Timeout | undefined;
  private quiet: NodeJS.Timeout | undefined;
  private forwardingAudio = false;
  /** The peer's packets, renumbered, waiting to go to ffmpeg together (FORWARD_BATCH) or for the socket. */
  private held: ForwardedPacket[] = [];
  private readonly joiner = new RtpJoiner();
  /**
   * The peer's first packet goes at once: the call's sound starts with it, so does the first-media latency. Silence
   * forwarded before it does not count.
   */
  private peerForwarded = false;
  /** performance.now() of the last packet forwarded from the peer (or of forwarding's start). */
  private lastForwardedAt = 0;
  /** The gap being filled: from when, and how many 20 ms frames went out. */
  private gap: { from: number; sent: number } | undefined;
  private closed = false;
  /** The even RTP port to put in the SDP offer; RTCP is on port + 1. */
  readonly port: number;

  private constructor(
    readonly kind: 'audio' | 'video',
    private readonly rtp: Socket,
    private readonly rtcp: Socket,
    private readonly logger: Logger,
  ) {
    super((error, event) => logger.error('rtp endpoint listener failed', { event: String(event), error }));
    this.port = rtp.address().port;
    this.sender = new RtpSender((packet) => this.sendToPeer(packet));
    rtp.on('message', (message, rinfo) => this.onRtp(message, rinfo));
    // RTCP from the peer is read only so the kernel buffer never fills; ffmpeg needs no sender reports for one stream per kind.
    rtcp.on('message', () => {});
    for (const socket of [rtp, rtcp]) socket.on('error', (error) => logger.warn('rtp socket error', { kind, error }));
  }

  /** Binds the RTP/RTCP pair; `port` is the even RTP port to put in the SDP offer. */
  // `override` only because TypeScript sees Function.prototype.bind on the constructor; nothing calls that one.
  static override async bind(options: RtpEndpointOptions): Promise<RtpEndpoint> {
    const logger = (options.logger ?? silentLogger).child({ component: 'rtp', kind: options.kind });
    const range = options.portRange;
    for (let attempt = 0; attempt < 100; attempt++) {
      let port = 0;
      if (range) {
        const evens = Math.floor((range.max - 1 - range.min) / 2) + 1;
        if (evens < 1) throw new RtpBindError(`port range ${range.min}-${range.max} holds no RTP/RTCP pair`, options.bindAddress);
        port = (range.min + (range.min & 1)) + 2 * Math.floor(Math.random() * evens);
        if (port + 1 > range.max) continue;
      }
      const rtp = await bindSocket(options.bindAddress, port);
      if (!rtp) continue;
      const rtpPort = rtp.address().port;
      const rtcp = rtpPort % 2 === 0 ? await bindSocket(options.bindAddress, rtpPort + 1) : undefined;
      if (!rtcp) {
        rtp.close();
        continue;
      }
      const endpoint = new RtpEndpoint(options.kind, rtp, rtcp, logger);
      logger.debug('rtp bound', { port: rtpPort });
      return endpoint;
    }
    throw new RtpBindError('no free RTP/RTCP port pair', options.bindAddress);
  }

  /** Where our packets go: the peer's source once it has sent, its SDP address until then. */
  get peerAddress(): { address: string; port: number } | undefined {
    return this.learned ?? (this.stream ? { address: this.stream.remoteAddress, port: this.stream.remotePort } : undefined);
  }

  /** The negotiated stream (from the answer, or a re-INVITE); safe to call again. */
  setRemote(stream: NegotiatedStream): void {
    this.stream = stream;
    // Only early media seen under a guessed clock is reset; a re-INVITE keeps its clock and our continuous stream.
    if (this.clockRate !== stream.clockRate) {
      this.clockRate = stream.clockRate;
      this.receiver = new RtpStats(stream.clockRate);
      this.rewriter = new RtpRewriter(stream.clockRate);
    }
  }

  /** Starts forwarding the peer's media packets to ffmpeg's RTP input; packets before this are counted, not kept. */
  forwardTo(port: number, address = '127.0.0.1'): void {
    if (this.closed) return;
    if (this.forwardTarget?.port !== port || this.forwardTarget.address !== address) {
      this.forwardTarget = { address, port };
      this.connectForward(address, port);
    }
    if (this.kind === 'audio' && !this.forwardingAudio) {
      this.forwardingAudio = true;
      this.lastForwardedAt = performance.now();
      this.startBeat();
    }
  }

  /**
   * A socket of its own per target, so what ffmpeg sends back (RTCP receiver reports) never mixes with the peer's
   * RTP. Connected, because Node's unconnected send looks the address up (dns.lookup, a nextTick) for every
   * packet: a node process receiving 50 packets/s took 0.35 % of a core, 0.81 % forwarding each unconnected,
   * 0.57 % connected. Until it is connected, packets are held.
   */
  private connectForward(address: string, port: number): void {
    const previous = this.forwardSocket;
    this.forwardSocket = undefined;
    previous?.close();
    const socket = createSocket('udp4');
    socket.on('error', (error) => this.logger.debug('forward socket error', { error }));
    socket.on('message', () => {});
    socket.bind(0, '127.0.0.1', () =>
      socket.connect(port, address, () => {
        if (this.closed || this.forwardTarget?.port !== port || this.forwardTarget.address !== address) return socket.close();
        this.forwardSocket = socket;
        this.flushHeld();
      }),
    );
  }

  /** Video, and audio we neither forward nor answer with silence, need no beat. */
  private get needsBeat(): boolean {
    return this.forwardingAudio || this.sender.sendingSilence;
  }

  /** Our own beat, until the peer's next packet. */
  private startBeat(): void {
    if (this.closed || this.pacer || !this.needsBeat) return;
    this.pacer = setInterval(() => this.beat(performance.now()), FRAME_MS);
  }

  private stopBeat(): void {
    clearInterval(this.pacer);
    this.pacer = undefined;
  }

  private beat(now: number): void {
    if (!this.needsBeat) return this.stopBeat();
    this.sender.pump(now);
    if (this.forwardingAudio) this.fillGap(now);
  }

  /** A media packet from the peer: it is the beat now; ours resumes QUIET_MS after the last one. */
  private peerBeat(now: number): void {
    this.stopBeat();
    if (!this.needsBeat) return;
    if (this.quiet) this.quiet.refresh();
    else
      this.quiet = setTimeout(() => {
        this.flushHeld();
        // What fell due while we waited goes now, not a tick later.
        this.beat(performance.now());
        this.startBeat();
      }, QUIET_MS);
    this.sender.pump(now);
  }

  /** Forwards silence for the time the peer has been quiet, paced at 20 ms frames from where its media stopped. */
  private fillGap(now: number): void {
    const stream = this.stream;
    const frame = stream && stream.payloadType >= 0 ? silenceFrame(stream.codec, stream.clockRate) : undefined;
    if (!frame || !stream || !this.forwardSocket || !this.rewriter) return;
    if (now - this.lastForwardedAt < FILL_AFTER_MS) return;
    this.flushHeld();
    const gap = (this.gap ??= { from: this.lastForwardedAt, sent: 0 });
    const due = Math.floor((now - gap.from) / FRAME_MS);
    // After a stalled event loop, skip ahead rather than burst more than ffmpeg's jitter buffer holds.
    if (due - gap.sent > 10) gap.sent = due - 10;
    while (gap.sent < due) {
      gap.sent++;
      const out = this.rewriter.fill(gap.from + gap.sent * FRAME_MS);
      this.held.push({ sequence: out.sequence, timestamp: out.timestamp, ssrc: out.ssrc, payloadType: stream.payloadType, marker: false, payload: frame.payload });
    }
    this.flushHeld();
  }

  /** Packets, loss and jitter (ms) of the peer's stream, RFC 3550 A.3/A.8; `lastPacketAt` for the inactivity timeout. */
  stats(): RtpStatsSnapshot {
    return this.receiver?.snapshot() ?? { packets: 0, lost: 0, jitterMs: 0 };
  }

  get lastPacketAt(): number | undefined {
    return this.receiver?.snapshot().lastPacketAt;
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
    const sending = this.sender.startSilence(stream);
    // If the peer is streaming, its next packet takes the beat back.
    if (sending) this.startBeat();
    return sending;
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
    this.held = [];
    this.stopBeat();
    clearTimeout(this.quiet);
    for (const socket of [this.rtp, this.rtcp, this.forwardSocket]) {
      try {
        socket?.close();
      } catch {
        // Already closed by an error; nothing left to release.
      }
    }
  }

  private sendToPeer(packet: Buffer): void {
    const to = this.peerAddress;
    if (!to || this.closed) return;
    this.rtp.send(packet, to.port, to.address);
  }

  private onRtp(message: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    const packet = parseRtp(message);
    if (!packet) return;
    const now = performance.now();
    const wall = Date.now();
    if (!this.receiver) this.setRemote({ ...placeholderStream(this.kind), remoteAddress: rinfo.address, remotePort: rinfo.port });
    const stream = this.stream!;
    const isMedia = packet.payloadType === stream.payloadType || stream.payloadType < 0;
    this.receiver!.record(packet.ssrc, packet.sequence, packet.timestamp, now, wall, isMedia);
    this.learned = { address: rinfo.address, port: rinfo.port };
    if (this.currentSsrc === undefined) {
      this.currentSsrc = packet.ssrc;
      this.emit('firstPacket', { at: wall, address: rinfo.address, port: rinfo.port });
    } else if (this.currentSsrc !== packet.ssrc) {
      this.currentSsrc = packet.ssrc;
      this.logger.info('rtp source changed', { ssrc: packet.ssrc });
      this.emit('sourceChanged', { ssrc: packet.ssrc, address: rinfo.address, port: rinfo.port });
    }
    // Only the negotiated codec goes to ffmpeg: its SDP knows no other payload type (telephone-event, CN).
    if (!isMedia || !this.forwardTarget) return;
    const out = this.rewriter!.map(packet.ssrc, packet.sequence, packet.timestamp, now);
    this.lastForwardedAt = now;
    this.gap = undefined;
    this.peerBeat(now);
    const payload = message.subarray(packet.payloadOffset, packet.payloadEnd);
    this.held.push({ sequence: out.sequence, timestamp: out.timestamp, ssrc: out.ssrc, payloadType: packet.payloadType, marker: packet.marker, payload });
    const first = !this.peerForwarded;
    this.peerForwarded = true;
    if (this.kind === 'video' || first || this.held.length >= FORWARD_BATCH) this.flushHeld();
  }

  private flushHeld(): void {
    const socket = this.forwardSocket;
    if (!socket) {
      // Still connecting: hold on, but no more than ffmpeg's jitter buffer would keep.
      if (this.held.length > MAX_HELD) this.held.splice(0, this.held.length - MAX_HELD);
      return;
    }
    const held = this.held;
    if (!held.length) return;
    this.held = [];
    // Video keeps its numbering: the packets of a frame share a timestamp, and ffmpeg's queue reorders them.
    const datagrams =
      this.kind === 'audio'
        ? this.joiner.pack(held, joinable(this.stream?.codec ?? ''))
        : held.map((packet) => buildRtp(packet, packet.payload));
    for (const datagram of datagrams) socket.send(datagram);
  }
}

/** Before the answer is known (early media), count and learn, but forward nothing typed. */
function placeholderStream(kind: 'audio' | 'video'): NegotiatedStream {
  return { kind, remoteAddress: '', remotePort: 0, payloadType: -1, codec: '', clockRate: DEFAULT_CLOCK[kind], channels: 1, peerDirection: 'sendrecv' };
}

function bindSocket(address: string, port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const onError = () => {
      socket.close();
      resolve(undefined);
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
