/**
 * SDP answers and re-offers from a broken or hostile peer: parsed into only streams the RTP layer can use
 * (IPv4 address, port 1-65535, a codec we offered) or refused with SdpError; sip-call.ts turns either into
 * `answered` with fewer (or no) streams, which the call runner ends as "the peer accepted no media stream".
 */
import { describe, expect, it } from 'vitest';
import { SdpError, answerReoffer, parseAnswer, type NegotiatedMedia } from '../../media-task/sip/sdp.ts';
import { GARBAGE_SDP } from './fuzz.ts';

const local = { address: '127.0.0.1', audio: { port: 40000, direction: 'sendrecv' as const } };

function parsedOrRefused(action: () => NegotiatedMedia): NegotiatedMedia {
  try {
    return action();
  } catch (error) {
    expect(error).toBeInstanceOf(SdpError);
    return {};
  }
}

/** Big but well-formed: its one good audio m-line is used like any other. */
const STILL_USABLE = new Set(['huge SDP', 'thousands of m-lines']);
const expected = (name: string): NegotiatedMedia =>
  STILL_USABLE.has(name)
    ? {
        audio: {
          kind: 'audio',
          remoteAddress: '127.0.0.1',
          remotePort: 6000,
          payloadType: 0,
          codec: 'PCMU',
          clockRate: 8000,
          channels: 1,
          peerDirection: 'sendrecv',
        },
      }
    : {};

describe('garbage SDP', () => {
  it.each(GARBAGE_SDP)('%s: only a usable stream comes out of an answer', (name, sdp) => {
    expect(parsedOrRefused(() => parseAnswer(sdp))).toEqual(expected(name));
  });

  it.each(GARBAGE_SDP)('%s: a re-offer is answered m-line for m-line, unusable ones with port 0', (name, sdp) => {
    let answer = '';
    const media = parsedOrRefused(() => {
      const result = answerReoffer(sdp, local, 2);
      answer = result.answer;
      return result.media;
    });
    expect(media).toEqual(expected(name));
    const live = answer.match(/^m=\S+ (?!0 ).*$/gm) ?? [];
    expect(live).toEqual(STILL_USABLE.has(name) ? ['m=audio 40000 RTP/AVP 0'] : []);
  });

  it('the same answer with a good address and port still yields its stream (the checks are not too strict)', () => {
    const good = ['v=0', 'c=IN IP4 192.0.2.1', 'm=audio 65535 RTP/AVP 0', ''].join('\r\n');
    expect(parseAnswer(good).audio).toMatchObject({ remoteAddress: '192.0.2.1', remotePort: 65535, codec: 'PCMU' });
  });
});
