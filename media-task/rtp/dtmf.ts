/**
 * RFC 4733 telephone-events: which packets to send, when, and their payloads. Pure; the endpoint sends them.
 * Each digit is a 160 ms tone reported every 20 ms (duration growing, marker on the first packet, RFC 4733
 * 2.5.1.2), then the final packet three times with the E bit (2.5.1.4); 100 ms of silence between digits and
 * 500 ms for `,` or `w` (the pause CallSpec.dtmf documents).
 */
export const DTMF_TONE_MS = 160;
export const DTMF_GAP_MS = 100;
export const DTMF_PAUSE_MS = 500;
const UPDATE_EVERY_MS = 20;
const END_REPEATS = 3;
/** -10 dBm0, the level most gateways emit. */
const VOLUME = 10;

export class DtmfError extends Error {
  override name = 'DtmfError';
}

/** RFC 4733 3.2 event codes. */
export function dtmfEventCode(char: string): number | undefined {
  if (char >= '0' && char <= '9') return char.charCodeAt(0) - 48;
  if (char === '*') return 10;
  if (char === '#') return 11;
  const upper = char.toUpperCase();
  if (upper >= 'A' && upper <= 'D') return 12 + upper.charCodeAt(0) - 65;
  return undefined;
}

export interface DtmfPacketPlan {
  /** Milliseconds after the sequence starts. */
  atMs: number;
  /** Start of this event, ms after the sequence starts: all its packets carry the RTP timestamp of that instant. */
  eventStartMs: number;
  event: number;
  end: boolean;
  marker: boolean;
  /** In units of the telephone-event clock. */
  duration: number;
}

/** Throws DtmfError on characters that are neither digits nor pauses, before anything is sent. */
export function planDtmf(digits: string, clockRate: number): { packets: DtmfPacketPlan[]; totalMs: number } {
  const packets: DtmfPacketPlan[] = [];
  let cursor = 0;
  for (const char of digits) {
    if (char === ',' || char === 'w' || char === 'W') {
      cursor += DTMF_PAUSE_MS;
      continue;
    }
    const event = dtmfEventCode(char);
    if (event === undefined) throw new DtmfError(`not a DTMF digit: ${JSON.stringify(char)}`);
    const units = (ms: number) => Math.round((ms * clockRate) / 1000);
    for (let at = 0; at < DTMF_TONE_MS; at += UPDATE_EVERY_MS) {
      packets.push({
        atMs: cursor + at,
        eventStartMs: cursor,
        event,
        end: false,
        marker: at === 0,
        duration: units(at + UPDATE_EVERY_MS),
      });
    }
    for (let i = 0; i < END_REPEATS; i++) {
      packets.push({
        atMs: cursor + DTMF_TONE_MS,
        eventStartMs: cursor,
        event,
        end: true,
        marker: false,
        duration: units(DTMF_TONE_MS),
      });
    }
    cursor += DTMF_TONE_MS + DTMF_GAP_MS;
  }
  return { packets, totalMs: cursor };
}

/** RFC 4733 2.3 payload: event, E|R|volume, duration. */
export function dtmfPayload(plan: Pick<DtmfPacketPlan, 'event' | 'end' | 'duration'>): Buffer {
  const payload = Buffer.alloc(4);
  payload[0] = plan.event;
  payload[1] = (plan.end ? 0x80 : 0) | VOLUME;
  payload.writeUInt16BE(Math.min(plan.duration, 0xffff), 2);
  return payload;
}

export function parseDtmfPayload(payload: Buffer): { event: number; end: boolean; volume: number; duration: number } {
  return {
    event: payload[0]!,
    end: (payload[1]! & 0x80) !== 0,
    volume: payload[1]! & 0x3f,
    duration: payload.readUInt16BE(2),
  };
}
