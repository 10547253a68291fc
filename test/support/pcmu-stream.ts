import type { NegotiatedStream } from '../../media-task/sip/sdp.ts';

/** A PCMU audio stream as SDP negotiation leaves it, from a peer on 127.0.0.1 at `remotePort`. */
export const pcmuStream = (remotePort: number, extra: Partial<NegotiatedStream> = {}): NegotiatedStream => ({
  kind: 'audio',
  remoteAddress: '127.0.0.1',
  remotePort,
  payloadType: 0,
  codec: 'PCMU',
  clockRate: 8000,
  channels: 1,
  peerDirection: 'sendrecv',
  ...extra,
});
