/**
 * RTP fixed header (RFC 3550 section 5.1): parse and build, for the tests' peers and the bench. The gateway's own
 * parser is the relay's (media-task/relay/rtp-relay.c); the relay's fuzz test holds the two to the same answers.
 */
export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
}

export interface RtpPacket extends RtpHeader {
  /** Offset of the payload in the datagram (after CSRCs and header extension). */
  payloadOffset: number;
  payloadEnd: number;
}

/** undefined when the datagram is not RTP version 2 or is truncated. */
export function parseRtp(datagram: Buffer): RtpPacket | undefined {
  if (datagram.length < 12) return undefined;
  const b0 = datagram[0]!;
  if (b0 >> 6 !== 2) return undefined;
  const b1 = datagram[1]!;
  // RTCP shares the version bits; its packet types 200-204 land on PT 72-76 with the marker set (RFC 5761 4).
  if ((b1 & 0x7f) >= 72 && (b1 & 0x7f) <= 76) return undefined;
  let offset = 12 + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (datagram.length < offset + 4) return undefined;
    offset += 4 + datagram.readUInt16BE(offset + 2) * 4;
  }
  let end = datagram.length;
  if (b0 & 0x20) end -= datagram[datagram.length - 1]!;
  if (offset > end) return undefined;
  return {
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequence: datagram.readUInt16BE(2),
    timestamp: datagram.readUInt32BE(4),
    ssrc: datagram.readUInt32BE(8),
    payloadOffset: offset,
    payloadEnd: end,
  };
}

export function buildRtp(header: RtpHeader, payload: Buffer): Buffer {
  const packet = Buffer.allocUnsafe(12 + payload.length);
  packet[0] = 0x80;
  packet[1] = (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f);
  packet.writeUInt16BE(header.sequence & 0xffff, 2);
  packet.writeUInt32BE(header.timestamp >>> 0, 4);
  packet.writeUInt32BE(header.ssrc >>> 0, 8);
  payload.copy(packet, 12);
  return packet;
}
