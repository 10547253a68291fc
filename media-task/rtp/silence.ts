/**
 * One 20 ms frame of silence per codec, sent as comfort audio so the peer (and NATs between us) see media from
 * our side of a sendrecv call.
 */
const FRAME_MS = 20;

/**
 * - PCMU 0xFF and PCMA 0xD5 are the G.711 codes for zero amplitude.
 * - G.722: a run of 0xFF decodes to |sample| <= 3 with ffmpeg's decoder (checked by decoding 2 s of it); the
 *   encoder's own output for digital silence wanders as its predictor adapts, so no captured frame is better.
 *   Its RTP clock is 8000 Hz although it samples at 16 kHz (RFC 3551 4.5.2), hence 160 bytes per 20 ms.
 * - Opus: 0xF8 0xFF 0xFE is a 20 ms CELT fullband mono frame that decodes to silence (RFC 6716 3.1 TOC 0xF8 code
 *   0, the two bytes encode a frame with the silence flag); its RTP clock is always 48 kHz (RFC 7587 4.1).
 */
export function silenceFrame(codec: string, clockRate: number): { payload: Buffer; timestampStep: number } | undefined {
  const samples = Math.round((clockRate * FRAME_MS) / 1000);
  switch (codec.toUpperCase()) {
    case 'PCMU':
      return { payload: Buffer.alloc(samples, 0xff), timestampStep: samples };
    case 'PCMA':
      return { payload: Buffer.alloc(samples, 0xd5), timestampStep: samples };
    case 'G722':
      return { payload: Buffer.alloc(160, 0xff), timestampStep: 160 };
    case 'OPUS':
      return { payload: Buffer.from([0xf8, 0xff, 0xfe]), timestampStep: 960 };
    default:
      return undefined;
  }
}
