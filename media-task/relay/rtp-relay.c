/*
 * rtp-relay: the per-packet half of one RTP endpoint. media-task/rtp/rtp-endpoint.ts starts one per media kind
 * and keeps the other half: what to send and when to change it. Node spent more CPU than bare ffmpeg's whole
 * encode on every call just receiving 50 packets a second, answering each with comfort silence and forwarding
 * them (each packet crosses libuv, a JS callback and a Buffer); this loop does the same in a few system calls.
 *
 * What it does, per packet from the peer: strict RTP (only the peer's source is heard, see accept_source), RFC
 * 3550 A.1/A.8 statistics, the peer's source address for our packets (symmetric RTP, RFC 4961), the negotiated
 * payload type only to ffmpeg, renumbered onto one continuous stream whatever the peer's SSRC or numbering, three
 * 20 ms packets joined into one for G.711 and G.722. While the peer is quiet, its own 20 ms clock paces comfort
 * silence to the peer and codec silence to ffmpeg, so the FLV behind ffmpeg never stalls. The constants are
 * explained where rtp-endpoint.ts documents the behaviour.
 *
 *   rtp-relay audio|video <bind address> <port min> <port max>     (0 0: a port the kernel picks)
 *
 * Commands on stdin, one a line, written only by rtp-endpoint.ts:
 *   stream <pt> <clock rate> <join 0|1> <remote address> <remote port> <silence payload hex|-> <level pcmu|pcma|->
 *   forward <port>                                   ffmpeg's RTP input on 127.0.0.1
 *   silence <pt> <clock rate> <payload hex> | silence off
 *   event <pt> <clock rate> <first 0|1> <end 0|1> <CLOCK_MONOTONIC ms of the event's start> <payload hex>
 *   stats
 * Events on stdout, one a line:
 *   bound <rtp port> | first <address> <port> <wall ms> | source <ssrc> <address> <port>
 *   latched <address> <port>                         the peer's media comes from there, not from its SDP's
 *   stats <packets> <lost> <jitter ms> <wall ms of the last packet, or -1> <foreign packets dropped>
 *         <level samples> <level energy>            (the answer to `stats`; see audio_level)
 *   error <message>
 * It exits when stdin closes: its owner is gone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
  FRAME_MS = 20,
  FILL_AFTER_MS = 120,
  QUIET_MS = 5 * FRAME_MS,
  FORWARD_BATCH = 3,
  MAX_FILL_BURST = 10,
  MAX_SILENCE_BURST = 7,
  MAX_JUMP = 3000,
  MAX_DROPOUT = 3000,
  MAX_JOINED_BYTES = 1200,
  HELD_SLOTS = 16,
  MAX_DATAGRAM = 65536,
  MAX_PAYLOAD = 2048,
  LATCH_RUN = 5,
};

static double monotonic_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int64_t round_half_up(double x) { return (int64_t)(x >= 0 ? x + 0.5 : x - 0.5); }

static uint32_t random32(void) {
  uint32_t value = 0;
  if (getrandom(&value, sizeof value, 0) != sizeof value) value = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
  return value;
}

static void say(const char *format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  int length = vsnprintf(line, sizeof line - 1, format, args);
  va_end(args);
  if (length < 0) return;
  if (length > (int)sizeof line - 2) length = (int)sizeof line - 2;
  line[length++] = '\n';
  // The owner reads stdout line by line; a short write would split a line, and EINTR is the only retry worth it.
  while (write(STDOUT_FILENO, line, (size_t)length) < 0 && errno == EINTR) {}
}

/* ---- RTP fixed header, RFC 3550 5.1 ---- */

struct rtp {
  int marker, pt;
  uint16_t sequence;
  uint32_t timestamp, ssrc;
  const uint8_t *payload;
  size_t length;
};

static int parse_rtp(const uint8_t *d, size_t n, struct rtp *p) {
  if (n < 12 || d[0] >> 6 != 2) return 0;
  int pt = d[1] & 0x7f;
  // RTCP shares the version bits; its packet types 200-204 land on PT 72-76 (RFC 5761 4).
  if (pt >= 72 && pt <= 76) return 0;
  size_t offset = 12 + (size_t)(d[0] & 0x0f) * 4;
  if (d[0] & 0x10) {
    if (n < offset + 4) return 0;
    offset += 4 + (size_t)((d[offset + 2] << 8) | d[offset + 3]) * 4;
  }
  size_t end = n;
  if (d[0] & 0x20) {
    if (d[n - 1] > end) return 0;
    end -= d[n - 1];
  }
  if (offset > end) return 0;
  p->marker = (d[1] & 0x80) != 0;
  p->pt = pt;
  p->sequence = (uint16_t)((d[2] << 8) | d[3]);
  p->timestamp = (uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7];
  p->ssrc = (uint32_t)d[8] << 24 | (uint32_t)d[9] << 16 | (uint32_t)d[10] << 8 | d[11];
  p->payload = d + offset;
  p->length = end - offset;
  return 1;
}

static void put_header(uint8_t *out, int marker, int pt, uint16_t sequence, uint32_t timestamp, uint32_t ssrc) {
  out[0] = 0x80;
  out[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
  out[2] = (uint8_t)(sequence >> 8), out[3] = (uint8_t)sequence;
  out[4] = (uint8_t)(timestamp >> 24), out[5] = (uint8_t)(timestamp >> 16), out[6] = (uint8_t)(timestamp >> 8), out[7] = (uint8_t)timestamp;
  out[8] = (uint8_t)(ssrc >> 24), out[9] = (uint8_t)(ssrc >> 16), out[10] = (uint8_t)(ssrc >> 8), out[11] = (uint8_t)ssrc;
}

/* RFC 3550 A.1 serial number order: a comes after b within half the 16-bit space. */
static int after(uint16_t a, uint16_t b) {
  uint16_t distance = (uint16_t)(a - b);
  return distance != 0 && distance < 0x8000;
}

/*
 * ---- Audio level ----
 * The peer's G.711 samples are what ffmpeg decodes anyway; their level costs a table lookup per byte here instead
 * of a decoder of its own. Counted as a sum of squares over 16-bit linear samples and a sample count, both since
 * the start, like the packet counters: whoever reads them twice gets the RMS of what arrived in between, and a
 * read for another purpose (the inactivity check) takes nothing away from the next one.
 */
enum level_codec { LEVEL_NONE, LEVEL_PCMU, LEVEL_PCMA };

struct audio_level {
  enum level_codec codec;
  uint32_t square[256];
  int64_t samples;
  double energy;
};

/* ITU-T G.711's A-law and µ-law tables: the magnitude a code stands for, in 16-bit linear; the sign squares away. */
static uint32_t g711_magnitude(enum level_codec codec, uint8_t code) {
  if (codec == LEVEL_PCMU) {
    uint8_t x = (uint8_t)~code;
    return ((((uint32_t)(x & 0x0f) << 3) + 0x84) << ((x >> 4) & 7)) - 0x84;
  }
  uint8_t x = code ^ 0x55;
  uint32_t exponent = (x >> 4) & 7, mantissa = x & 0x0f;
  return exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
}

static void level_set_codec(struct audio_level *l, enum level_codec codec) {
  if (codec == l->codec) return;
  l->codec = codec;
  if (codec == LEVEL_NONE) return;
  for (int code = 0; code < 256; code++) {
    uint32_t magnitude = g711_magnitude(codec, (uint8_t)code);
    l->square[code] = magnitude * magnitude;
  }
}

static void level_add(struct audio_level *l, const uint8_t *payload, size_t length) {
  if (l->codec == LEVEL_NONE) return;
  uint64_t sum = 0;
  for (size_t i = 0; i < length; i++) sum += l->square[payload[i]];
  l->samples += (int64_t)length;
  l->energy += (double)sum;
}

/* ---- Reception statistics, RFC 3550 A.1, A.3, A.8 ---- */

struct stats {
  int clock_rate, has_source, has_transit;
  uint32_t ssrc;
  uint16_t base_seq, max_seq;
  int64_t cycles, received, closed_received, closed_lost;
  double transit, jitter, last_wall;
  int has_last;
};

static void stats_retire(struct stats *s) {
  if (!s->has_source) return;
  int64_t expected = s->cycles + s->max_seq - s->base_seq + 1;
  s->closed_received += s->received;
  if (expected > s->received) s->closed_lost += expected - s->received;
  s->has_source = 0;
}

static void stats_new_source(struct stats *s, uint32_t ssrc, uint16_t sequence) {
  stats_retire(s);
  s->has_source = 1, s->has_transit = 0;
  s->ssrc = ssrc, s->base_seq = s->max_seq = sequence;
  s->cycles = 0, s->received = 0, s->jitter = 0;
}

/* Packets whose timestamps do not follow the media clock (RFC 4733 events repeat theirs) count no jitter. */
static void stats_record(struct stats *s, const struct rtp *p, double arrival_ms, double wall, int count_jitter) {
  s->last_wall = wall, s->has_last = 1;
  if (!s->has_source || s->ssrc != p->ssrc) {
    stats_new_source(s, p->ssrc, p->sequence);
  } else {
    uint16_t delta = (uint16_t)(p->sequence - s->max_seq);
    if (delta > 0 && delta < MAX_DROPOUT) {
      if (p->sequence < s->max_seq) s->cycles += 0x10000;
      s->max_seq = p->sequence;
    } else if (delta >= MAX_DROPOUT && delta <= 0xffff - 100) {
      // A jump neither forward nor a late duplicate: the sender restarted its numbering.
      stats_new_source(s, p->ssrc, p->sequence);
    }
  }
  s->received++;
  if (!count_jitter) return;
  double transit = arrival_ms * s->clock_rate / 1000 - p->timestamp;
  if (s->has_transit) {
    double d = transit > s->transit ? transit - s->transit : s->transit - transit;
    // A 32-bit timestamp wrap looks like a huge transit jump; it is not jitter.
    if (d > 2147483648.0) d = d > 4294967296.0 ? d - 4294967296.0 : 4294967296.0 - d;
    s->jitter += (d - s->jitter) / 16;
  }
  s->transit = transit, s->has_transit = 1;
}

static void stats_report(const struct stats *s, int64_t foreign_dropped, const struct audio_level *l) {
  int64_t packets = s->closed_received, lost = s->closed_lost;
  double jitter_ms = 0;
  if (s->has_source) {
    int64_t expected = s->cycles + s->max_seq - s->base_seq + 1;
    packets += s->received;
    if (expected > s->received) lost += expected - s->received;
    jitter_ms = s->jitter / s->clock_rate * 1000;
  }
  say("stats %lld %lld %.3f %.0f %lld %lld %.0f", (long long)packets, (long long)lost, jitter_ms, s->has_last ? s->last_wall : -1.0, (long long)foreign_dropped, (long long)l->samples, l->energy);
}

/*
 * ---- One continuous stream for ffmpeg ----
 * ffmpeg's RTP demuxer binds to the first SSRC it sees and treats a new SSRC or a sequence jump as garbage: a new
 * source is re-anchored to continue our sequence by one and our timestamp by the time elapsed. Silence we fill a
 * gap with takes the next numbers too.
 */
struct rewriter {
  int clock_rate, started, has_in;
  uint32_t ssrc, in_ssrc, ts_offset, last_out_ts;
  uint16_t seq_offset, last_out_seq, last_in_seq;
  double last_at;
};

static void rewriter_reset(struct rewriter *r, int clock_rate) {
  memset(r, 0, sizeof *r);
  r->clock_rate = clock_rate;
  r->ssrc = random32();
  r->last_out_seq = (uint16_t)(random32() & 0x7fff);
  r->last_out_ts = random32();
}

static uint32_t rewriter_elapsed(const struct rewriter *r, double at) {
  if (!r->started) return 0;
  int64_t ticks = round_half_up((at - r->last_at) * r->clock_rate / 1000);
  return ticks < 1 ? 1 : (uint32_t)ticks;
}

static void rewriter_fill(struct rewriter *r, double media_at, uint16_t *sequence, uint32_t *timestamp) {
  uint32_t elapsed = rewriter_elapsed(r, media_at);
  r->last_out_seq++;
  r->last_out_ts += elapsed;
  r->last_at = media_at;
  r->started = 1, r->has_in = 0;
  *sequence = r->last_out_seq, *timestamp = r->last_out_ts;
}

static void rewriter_map(struct rewriter *r, const struct rtp *p, double now, uint16_t *sequence, uint32_t *timestamp) {
  uint16_t jump = (uint16_t)(p->sequence - r->last_in_seq);
  int reanchored = 0;
  if (!r->started || !r->has_in || p->ssrc != r->in_ssrc || (jump > MAX_JUMP && jump < 0x10000 - MAX_JUMP)) {
    uint32_t elapsed = rewriter_elapsed(r, now);
    r->seq_offset = (uint16_t)(r->last_out_seq + 1 - p->sequence);
    r->ts_offset = r->last_out_ts + elapsed - p->timestamp;
    r->in_ssrc = p->ssrc, r->has_in = 1;
    reanchored = r->started;
    r->started = 1;
  }
  uint16_t out_seq = (uint16_t)(p->sequence + r->seq_offset);
  uint32_t out_ts = p->timestamp + r->ts_offset;
  // Only in-order packets move the anchor forward; a late one must not make the next re-anchor step back.
  if ((uint16_t)(out_seq - r->last_out_seq) < 0x8000 || reanchored) {
    r->last_out_seq = out_seq, r->last_out_ts = out_ts, r->last_in_seq = p->sequence;
  }
  r->last_at = now;
  *sequence = out_seq, *timestamp = out_ts;
}

/* ---- The relay's state ---- */

struct held {
  uint16_t sequence;
  uint32_t timestamp;
  int pt, marker;
  size_t length;
  uint8_t payload[MAX_PAYLOAD];
};

static struct {
  int video;
  int rtp_fd, rtcp_fd, forward_fd;
  /* The negotiated stream; pt -1 before the answer (early media is counted, not forwarded). */
  int pt, join;
  /* Strict RTP (accept_source): the signalled address, the source we hear, and one that may become it. */
  struct sockaddr_in remote, latched;
  int has_remote, has_latch, latch_confirmed;
  struct {
    struct sockaddr_in from;
    uint32_t ssrc;
    uint16_t sequence;
    int run;
  } candidate;
  int64_t foreign_dropped;
  uint8_t fill[MAX_PAYLOAD];
  size_t fill_length;
  struct stats stats;
  struct audio_level level;
  struct rewriter rewriter;
  int has_ssrc;
  uint32_t current_ssrc;
  /* Towards ffmpeg. */
  int forwarding_audio, peer_forwarded, gap_active;
  double last_forwarded_at, gap_from;
  int64_t gap_sent;
  struct held held[HELD_SLOTS];
  int held_count;
  uint16_t join_sequence, newest;
  int has_newest;
  /* Towards the peer: comfort silence and RFC 4733 events on one SSRC, sequence and wall-anchored clock. */
  uint32_t out_ssrc, ts_origin;
  uint16_t out_sequence;
  double t0;
  int silence_on, silence_pt, silence_clock, silence_marked, in_event;
  double silence_started;
  int64_t silence_sent;
  uint8_t silence[MAX_PAYLOAD];
  size_t silence_length;
  uint32_t event_ts;
  /* Our 20 ms beat while the peer is quiet; the peer's packets are the beat otherwise (0 = not armed). */
  double pacer_at, quiet_at;
} r;

/* Our packets go only where we hear the peer from, or where its SDP said: never to a foreign source. */
static const struct sockaddr_in *peer_address(void) { return r.has_latch ? &r.latched : NULL; }

static uint32_t timestamp_at(double at, int clock_rate) {
  return r.ts_origin + (uint32_t)round_half_up((at - r.t0) * clock_rate / 1000);
}

static void send_to_peer(int marker, int pt, uint32_t timestamp, const uint8_t *payload, size_t length) {
  static uint8_t datagram[12 + MAX_PAYLOAD];
  const struct sockaddr_in *to = peer_address();
  r.out_sequence++;
  if (!to) return;
  put_header(datagram, marker, pt, r.out_sequence, timestamp, r.out_ssrc);
  memcpy(datagram + 12, payload, length);
  sendto(r.rtp_fd, datagram, 12 + length, MSG_DONTWAIT, (const struct sockaddr *)to, sizeof *to);
}

/*
 * The silence frames due by now: counting from the start keeps 50 packets/s on average however late the beat
 * comes; after a longer stall it skips ahead instead of bursting.
 */
static void silence_pump(double now) {
  if (!r.silence_on) return;
  int64_t due = (int64_t)((now - r.silence_started) / FRAME_MS) + 1;
  if (due > r.silence_sent + MAX_SILENCE_BURST) r.silence_sent = due - 1;
  for (; r.silence_sent < due; r.silence_sent++) {
    if (r.in_event) continue;
    send_to_peer(!r.silence_marked, r.silence_pt, timestamp_at(r.silence_started + (double)r.silence_sent * FRAME_MS, r.silence_clock), r.silence, r.silence_length);
    r.silence_marked = 1;
  }
}

/* The held audio to ffmpeg, in order, renumbered one per datagram; consecutive G.711/G.722 packets joined. */
static void flush_held(void) {
  static uint8_t datagram[MAX_DATAGRAM];
  if (!r.held_count || r.forward_fd < 0) return;
  struct held *order[HELD_SLOTS];
  int count = 0;
  for (int i = 0; i < r.held_count; i++) {
    struct held *packet = &r.held[i];
    // A packet later than one already sent is dropped, as ffmpeg would drop one behind its queue.
    if (r.has_newest && !after(packet->sequence, r.newest)) continue;
    int at = count++;
    while (at > 0 && after(order[at - 1]->sequence, packet->sequence)) order[at] = order[at - 1], at--;
    order[at] = packet;
  }
  r.held_count = 0;
  size_t length = 0;
  const struct held *first = NULL, *last = NULL;
  for (int i = 0; i <= count; i++) {
    const struct held *packet = i < count ? order[i] : NULL;
    if (packet && r.has_newest && packet->sequence == r.newest) continue;
    int continues = packet && first && r.join && !packet->marker && packet->pt == last->pt &&
                    packet->sequence == (uint16_t)(last->sequence + 1) && packet->timestamp == last->timestamp + (uint32_t)last->length &&
                    length + packet->length <= MAX_JOINED_BYTES;
    if (first && !continues) {
      put_header(datagram, first->marker, first->pt, ++r.join_sequence, first->timestamp, r.rewriter.ssrc);
      send(r.forward_fd, datagram, 12 + length, MSG_DONTWAIT);
      first = NULL, length = 0;
    }
    if (!packet) break;
    if (!first) first = packet;
    memcpy(datagram + 12 + length, packet->payload, packet->length);
    length += packet->length;
    last = packet;
    r.newest = packet->sequence, r.has_newest = 1;
  }
}

static void hold(uint16_t sequence, uint32_t timestamp, int pt, int marker, const uint8_t *payload, size_t length) {
  if (length > MAX_PAYLOAD) return;
  if (r.held_count == HELD_SLOTS) flush_held();
  struct held *slot = &r.held[r.held_count++];
  slot->sequence = sequence, slot->timestamp = timestamp, slot->pt = pt, slot->marker = marker, slot->length = length;
  memcpy(slot->payload, payload, length);
}

/* Codec silence to ffmpeg for the time the peer has been quiet, in 20 ms frames from where its media stopped. */
static void fill_gap(double now) {
  if (r.pt < 0 || !r.fill_length || r.forward_fd < 0 || now - r.last_forwarded_at < FILL_AFTER_MS) return;
  flush_held();
  if (!r.gap_active) r.gap_active = 1, r.gap_from = r.last_forwarded_at, r.gap_sent = 0;
  int64_t due = (int64_t)((now - r.gap_from) / FRAME_MS);
  // After a stall, skip ahead rather than burst more than ffmpeg's jitter buffer holds.
  if (due - r.gap_sent > MAX_FILL_BURST) r.gap_sent = due - MAX_FILL_BURST;
  while (r.gap_sent < due) {
    uint16_t sequence;
    uint32_t timestamp;
    r.gap_sent++;
    rewriter_fill(&r.rewriter, r.gap_from + (double)r.gap_sent * FRAME_MS, &sequence, &timestamp);
    hold(sequence, timestamp, r.pt, 0, r.fill, r.fill_length);
  }
  flush_held();
}

static int needs_beat(void) { return r.forwarding_audio || r.silence_on; }

static void start_beat(double now) {
  if (!r.pacer_at && needs_beat()) r.pacer_at = now + FRAME_MS;
}

static void beat(double now) {
  if (!needs_beat()) {
    r.pacer_at = 0;
    return;
  }
  silence_pump(now);
  if (r.forwarding_audio) fill_gap(now);
}

/* A media packet from the peer is the beat; ours resumes QUIET_MS after the last one. */
static void peer_beat(double now) {
  r.pacer_at = 0;
  if (!needs_beat()) return;
  r.quiet_at = now + QUIET_MS;
  silence_pump(now);
}

static int same_source(const struct sockaddr_in *a, const struct sockaddr_in *b) {
  return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static void latch(const struct sockaddr_in *from) {
  r.latched = *from, r.has_latch = 1, r.latch_confirmed = 1;
  r.candidate.run = 0;
}

/*
 * Strict RTP: whether a packet is the peer's. Anyone can reach our media port (on AWS the security group opens it
 * to every address the SIP provider might use), so a packet from an arbitrary source must neither reach the
 * broadcast nor take our outgoing stream with it. The rules, in the order they are tried, after Asterisk's
 * strictrtp and rtpengine's source learning:
 *  1. The latched source is heard. Signalling (the answer's c=/m=, a re-INVITE that moves them) latches the
 *     signalled address at once: the SIP dialog is the one party that can tell us where the peer is.
 *  2. A packet from the signalled address is heard, and takes the latch back from a source learned under rule 3:
 *     signalling wins over learning, so a late straggler learned after a re-INVITE cannot lock the peer out.
 *  3. Until the latched source has sent anything (it may never: a peer behind NAT signals its private address and
 *     sends from its public one), or while nothing is signalled yet (early media), another source is latched
 *     after LATCH_RUN packets in a row from it with one SSRC and consecutive sequence numbers: the run a real
 *     stream makes in 100 ms, and a scan or a few stray packets do not. The earlier packets of the run are dropped
 *     and counted: no one's media reaches ffmpeg before the latch.
 *  4. Once the latched source is confirmed (it sent), every other source is dropped and counted, until signalling
 *     names a new address. A peer whose NAT mapping changes mid-call without a re-INVITE is lost with it. A
 *     stranger who completes a run before a NAT'd peer's first packet keeps the latch (until the SDP address
 *     sends or a re-INVITE names a new one): that race, a fraction of a second after the answer, is the price of
 *     following NAT at all, as in Asterisk and rtpengine. A peer that sends from its SDP address never loses it.
 * Per packet this is one address and port comparison; the run of rule 3 is only kept while nothing is confirmed.
 * RTCP (the next port) is read only to keep its buffer empty: nothing from it is forwarded, answered or learned.
 */
static int accept_source(const struct rtp *p, const struct sockaddr_in *from) {
  if (r.has_latch && same_source(from, &r.latched)) {
    r.latch_confirmed = 1;
    return 1;
  }
  if (r.has_remote && same_source(from, &r.remote)) {
    latch(from);
    return 1;
  }
  if (!r.latch_confirmed) {
    if (r.candidate.run && same_source(from, &r.candidate.from) && p->ssrc == r.candidate.ssrc && p->sequence == (uint16_t)(r.candidate.sequence + 1)) {
      r.candidate.run++;
    } else {
      r.candidate.from = *from, r.candidate.ssrc = p->ssrc, r.candidate.run = 1;
    }
    r.candidate.sequence = p->sequence;
    if (r.candidate.run >= LATCH_RUN) {
      char address[INET_ADDRSTRLEN];
      latch(from);
      inet_ntop(AF_INET, &from->sin_addr, address, sizeof address);
      say("latched %s %u", address, ntohs(from->sin_port));
      return 1;
    }
  }
  r.foreign_dropped++;
  return 0;
}

static void on_rtp(const uint8_t *datagram, size_t n, const struct sockaddr_in *from) {
  struct rtp p;
  if (!parse_rtp(datagram, n, &p) || !accept_source(&p, from)) return;
  double now = monotonic_ms(), wall = wall_ms();
  if (!r.stats.clock_rate) {
    // Before the answer (early media): count and learn under the kind's usual clock, forward nothing.
    r.stats.clock_rate = r.video ? 90000 : 8000;
    rewriter_reset(&r.rewriter, r.stats.clock_rate);
  }
  int media = p.pt == r.pt || r.pt < 0;
  stats_record(&r.stats, &p, now, wall, media);
  char address[INET_ADDRSTRLEN];
  if (!r.has_ssrc || r.current_ssrc != p.ssrc) {
    inet_ntop(AF_INET, &from->sin_addr, address, sizeof address);
    if (!r.has_ssrc) say("first %s %u %.0f", address, ntohs(from->sin_port), wall);
    else say("source %u %s %u", p.ssrc, address, ntohs(from->sin_port));
    r.has_ssrc = 1, r.current_ssrc = p.ssrc;
  }
  if (p.pt == r.pt) level_add(&r.level, p.payload, p.length);
  // Only the negotiated codec goes to ffmpeg: its SDP knows no other payload type (telephone-event, CN).
  if (!media || r.forward_fd < 0) return;
  uint16_t sequence;
  uint32_t timestamp;
  rewriter_map(&r.rewriter, &p, now, &sequence, &timestamp);
  r.last_forwarded_at = now;
  r.gap_active = 0;
  peer_beat(now);
  if (r.video) {
    // Video goes at once (a frame is a burst already) and keeps its numbering: the packets of a frame share a
    // timestamp, and ffmpeg's queue reorders them.
    static uint8_t out[MAX_DATAGRAM];
    put_header(out, p.marker, p.pt, sequence, timestamp, r.rewriter.ssrc);
    memcpy(out + 12, p.payload, p.length);
    send(r.forward_fd, out, 12 + p.length, MSG_DONTWAIT);
    return;
  }
  hold(sequence, timestamp, p.pt, p.marker, p.payload, p.length);
  // The first packet goes at once: the call's sound, and its first-media latency, start with it. Then three at a
  // time, which one 60 ms packet to ffmpeg carries.
  int first = !r.peer_forwarded;
  r.peer_forwarded = 1;
  if (first || r.held_count >= FORWARD_BATCH) flush_held();
}

/* ---- Commands ---- */

static size_t from_hex(const char *hex, uint8_t *out, size_t capacity) {
  size_t length = strlen(hex);
  if (strcmp(hex, "-") == 0 || length % 2 || length / 2 > capacity) return 0;
  for (size_t i = 0; i < length / 2; i++) {
    unsigned byte;
    if (sscanf(hex + 2 * i, "%2x", &byte) != 1) return 0;
    out[i] = (uint8_t)byte;
  }
  return length / 2;
}

static int parse_address(const char *address, int port, struct sockaddr_in *out) {
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)port);
  return port > 0 && port < 65536 && inet_pton(AF_INET, address, &out->sin_addr) == 1;
}

static void forward_to(int port) {
  struct sockaddr_in to;
  if (!parse_address("127.0.0.1", port, &to)) return say("error bad forward port %d", port);
  if (r.forward_fd >= 0) close(r.forward_fd);
  // A socket of its own, so what ffmpeg sends back (RTCP receiver reports) never mixes with the peer's RTP.
  r.forward_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (r.forward_fd < 0 || connect(r.forward_fd, (struct sockaddr *)&to, sizeof to) < 0) {
    say("error cannot reach ffmpeg on port %d: %s", port, strerror(errno));
    if (r.forward_fd >= 0) close(r.forward_fd);
    r.forward_fd = -1;
    return;
  }
  double now = monotonic_ms();
  if (!r.video && !r.forwarding_audio) {
    r.forwarding_audio = 1;
    r.last_forwarded_at = now;
    start_beat(now);
  }
}

static void command(char *line) {
  char word[16] = "", address[64] = "", hex[2 * MAX_PAYLOAD + 2] = "", level[8] = "";
  int pt, clock_rate, join, port, first, end;
  double started;
  double now = monotonic_ms();
  if (!*line) return;
  sscanf(line, "%15s", word);
  if (strcmp(word, "stream") == 0 && sscanf(line, "stream %d %d %d %63s %d %4097s %7s", &pt, &clock_rate, &join, address, &port, hex, level) == 7 && clock_rate > 0) {
    // Only early media seen under a guessed clock is reset; a re-INVITE keeps its clock and our continuous stream.
    if (r.stats.clock_rate != clock_rate) {
      memset(&r.stats, 0, sizeof r.stats);
      r.stats.clock_rate = clock_rate;
      rewriter_reset(&r.rewriter, clock_rate);
      // The new numbering starts anywhere: what was held, and the newest sent, belong to the old one.
      r.held_count = 0, r.has_newest = 0;
    }
    r.pt = pt, r.join = join;
    level_set_codec(&r.level, strcmp(level, "pcmu") == 0 ? LEVEL_PCMU : strcmp(level, "pcma") == 0 ? LEVEL_PCMA : LEVEL_NONE);
    struct sockaddr_in signalled;
    // 0.0.0.0 is a hold written the RFC 2543 way (RFC 3264 8.4): it names no peer, so the latch stays.
    if (parse_address(address, port, &signalled) && signalled.sin_addr.s_addr != htonl(INADDR_ANY)) {
      // Only a new address moves the latch (accept_source): a session refresh or a hold repeats the old one.
      if (!r.has_remote || !same_source(&signalled, &r.remote)) {
        r.remote = signalled, r.has_remote = 1;
        r.latched = signalled, r.has_latch = 1, r.latch_confirmed = 0, r.candidate.run = 0;
      }
    }
    r.fill_length = from_hex(hex, r.fill, sizeof r.fill);
  } else if (strcmp(word, "forward") == 0 && sscanf(line, "forward %d", &port) == 1) {
    forward_to(port);
    flush_held();
  } else if (strcmp(line, "silence off") == 0) {
    r.silence_on = 0;
  } else if (strcmp(word, "silence") == 0 && sscanf(line, "silence %d %d %4097s", &pt, &clock_rate, hex) == 3) {
    r.silence_length = from_hex(hex, r.silence, sizeof r.silence);
    r.silence_on = r.silence_length > 0;
    r.silence_pt = pt, r.silence_clock = clock_rate;
    r.silence_started = now, r.silence_sent = 0, r.silence_marked = 0;
    silence_pump(now);
    start_beat(now);
  } else if (strcmp(word, "event") == 0 && sscanf(line, "event %d %d %d %d %lf %4097s", &pt, &clock_rate, &first, &end, &started, hex) == 6) {
    uint8_t payload[MAX_PAYLOAD];
    size_t length = from_hex(hex, payload, sizeof payload);
    // Every packet of an event carries the timestamp of its start (RFC 4733 2.5.1.2); audio pauses meanwhile.
    if (first) r.event_ts = timestamp_at(started, clock_rate);
    r.in_event = !end;
    if (length) send_to_peer(first, pt, r.event_ts, payload, length);
  } else if (strcmp(line, "stats") == 0) {
    if (r.stats.clock_rate) stats_report(&r.stats, r.foreign_dropped, &r.level);
    else say("stats 0 0 0 -1 %lld 0 0", (long long)r.foreign_dropped);
  } else {
    say("error unknown command");
  }
}

/* ---- Sockets and the loop ---- */

static int bind_udp(const struct sockaddr_in *address) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && bind(fd, (const struct sockaddr *)address, sizeof *address) == 0) return fd;
  if (fd >= 0) close(fd);
  return -1;
}

/* RTP on an even port, RTCP on the next one (RFC 3550 11); inside [min, max] when a range is given. */
static int bind_pair(const char *address, int min, int max) {
  struct sockaddr_in at;
  if (!parse_address(address, 1, &at)) return 0;
  for (int attempt = 0; attempt < 100; attempt++) {
    int port = 0;
    if (min > 0) {
      int evens = (max - 1 - min) / 2 + 1;
      if (evens < 1) return 0;
      port = min + (min & 1) + 2 * (int)(random32() % (uint32_t)evens);
      if (port + 1 > max) continue;
    }
    at.sin_port = htons((uint16_t)port);
    int rtp = bind_udp(&at);
    if (rtp < 0) continue;
    socklen_t size = sizeof at;
    getsockname(rtp, (struct sockaddr *)&at, &size);
    int bound = ntohs(at.sin_port);
    at.sin_port = htons((uint16_t)(bound + 1));
    int rtcp = bound % 2 == 0 ? bind_udp(&at) : -1;
    if (rtcp < 0) {
      close(rtp);
      continue;
    }
    r.rtp_fd = rtp, r.rtcp_fd = rtcp;
    return bound;
  }
  return 0;
}

static void drain(int fd) {
  uint8_t discard[MAX_DATAGRAM];
  while (recv(fd, discard, sizeof discard, MSG_DONTWAIT) >= 0) {}
}

static void run_timers(double now) {
  if (r.quiet_at && now >= r.quiet_at) {
    r.quiet_at = 0;
    flush_held();
    // What fell due while we waited goes now, not a beat later.
    beat(now);
    start_beat(now);
  }
  if (r.pacer_at && now >= r.pacer_at) {
    r.pacer_at = now + FRAME_MS;
    beat(now);
  }
}

/* Only comfort silence has a clock; stats go out when asked, so an idle relay sleeps until a packet or command. */
static int poll_timeout(double now) {
  double next = r.quiet_at;
  if (r.pacer_at && (!next || r.pacer_at < next)) next = r.pacer_at;
  if (!next) return -1;
  double wait = next - now;
  return wait <= 0 ? 0 : (int)(wait + 0.999);
}

int main(int argc, char **argv) {
  if (argc != 5 || (strcmp(argv[1], "audio") != 0 && strcmp(argv[1], "video") != 0)) {
    fprintf(stderr, "usage: rtp-relay audio|video <bind address> <port min> <port max>\n");
    return 2;
  }
  r.video = strcmp(argv[1], "video") == 0;
  r.pt = -1, r.forward_fd = -1;
  r.out_ssrc = random32(), r.out_sequence = (uint16_t)(random32() & 0x7fff), r.ts_origin = random32();
  r.join_sequence = (uint16_t)random32();
  r.t0 = monotonic_ms();
  int port = bind_pair(argv[2], atoi(argv[3]), atoi(argv[4]));
  if (!port) {
    say("error no free RTP/RTCP port pair");
    return 1;
  }
  say("bound %d", port);
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  static char input[16384];
  size_t buffered = 0;
  static uint8_t datagram[MAX_DATAGRAM];
  for (;;) {
    struct pollfd fds[4] = {{STDIN_FILENO, POLLIN, 0}, {r.rtp_fd, POLLIN, 0}, {r.rtcp_fd, POLLIN, 0}, {r.forward_fd, POLLIN, 0}};
    if (poll(fds, r.forward_fd >= 0 ? 4 : 3, poll_timeout(monotonic_ms())) < 0 && errno != EINTR) return 1;
    // Commands first: one written before a packet was sent must apply to that packet.
    if (fds[0].revents) {
      ssize_t got = read(STDIN_FILENO, input + buffered, sizeof input - 1 - buffered);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return 0;
      if (got > 0) buffered += (size_t)got;
      char *start = input, *newline;
      while ((newline = memchr(start, '\n', buffered - (size_t)(start - input)))) {
        *newline = 0;
        command(start);
        start = newline + 1;
      }
      buffered -= (size_t)(start - input);
      memmove(input, start, buffered);
      if (buffered == sizeof input - 1) buffered = 0;
    }
    // Any event, not only POLLIN: a socket's pending error (ICMP port unreachable while ffmpeg is still starting
    // and has not bound its port) is a POLLERR that poll reports at once until a read takes it. Left there, it
    // spun this loop at half a core for as long as ffmpeg took to start.
    if (fds[1].revents) {
      for (;;) {
        struct sockaddr_in from;
        socklen_t size = sizeof from;
        ssize_t n = recvfrom(r.rtp_fd, datagram, sizeof datagram, MSG_DONTWAIT, (struct sockaddr *)&from, &size);
        if (n < 0) break;
        on_rtp(datagram, (size_t)n, &from);
      }
    }
    // RTCP from the peer and ffmpeg's receiver reports are read only so the kernel buffers never fill.
    if (fds[2].revents) drain(r.rtcp_fd);
    if (r.forward_fd >= 0 && fds[3].revents) drain(r.forward_fd);
    run_timers(monotonic_ms());
  }
}
