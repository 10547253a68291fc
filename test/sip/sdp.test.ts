import { describe, expect, it } from 'vitest';
import { answerDirection, answerReoffer, buildOffer, parseAnswer, type LocalMedia } from '../../media-task/sip/sdp.ts';

const both: LocalMedia = {
  address: '203.0.113.7',
  audio: { port: 40000, direction: 'sendrecv' },
  video: { port: 40002, direction: 'recvonly' },
};

const sdp = (...lines: string[]) => lines.join('\r\n') + '\r\n';
const HEAD = ['v=0', 'o=peer 1 1 IN IP4 198.51.100.1', 's=-', 'c=IN IP4 198.51.100.1', 't=0 0'];

describe('buildOffer', () => {
  it('offers our audio and video codecs, directions and address', () => {
    expect(buildOffer(both, 3, '42')).toBe(
      sdp(
        'v=0',
        'o=- 42 3 IN IP4 203.0.113.7',
        's=-',
        'c=IN IP4 203.0.113.7',
        't=0 0',
        'm=audio 40000 RTP/AVP 0 8 9 111 101',
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:9 G722/8000',
        'a=rtpmap:111 opus/48000/2',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-16',
        'a=sendrecv',
        'a=ptime:20',
        'm=video 40002 RTP/AVP 96',
        'a=rtpmap:96 H264/90000',
        'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f',
        'a=recvonly',
      ),
    );
  });

  it.each([
    [
      'audio only',
      { address: '10.0.0.1', audio: { port: 5000, direction: 'recvonly' } } as LocalMedia,
      ['m=audio 5000'],
      ['m=video'],
    ],
    [
      'video only',
      { address: '10.0.0.1', video: { port: 5002, direction: 'sendrecv' } } as LocalMedia,
      ['m=video 5002', 'a=sendrecv'],
      ['m=audio'],
    ],
  ])('%s', (_name, local, present, absent) => {
    const offer = buildOffer(local, 1);
    for (const text of present) expect(offer).toContain(text);
    for (const text of absent) expect(offer).not.toContain(text);
    expect(offer).not.toContain('rtcp-mux');
  });
});

describe('parseAnswer', () => {
  it.each([
    [
      'PCMU with telephone-event',
      sdp(...HEAD, 'm=audio 6000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16'),
      {
        audio: {
          kind: 'audio',
          remoteAddress: '198.51.100.1',
          remotePort: 6000,
          payloadType: 0,
          codec: 'PCMU',
          clockRate: 8000,
          channels: 1,
          peerDirection: 'sendrecv',
          telephoneEvent: { payloadType: 101, clockRate: 8000 },
        },
      },
    ],
    [
      'first offered codec wins, unknown ones are skipped, media-level c= overrides',
      sdp(
        ...HEAD,
        'm=audio 6000 RTP/AVP 18 111 8',
        'c=IN IP4 192.0.2.9',
        'a=rtpmap:18 G729/8000',
        'a=rtpmap:111 OPUS/48000/2',
        'a=fmtp:111 useinbandfec=1',
        'a=sendonly',
      ),
      {
        audio: {
          kind: 'audio',
          remoteAddress: '192.0.2.9',
          remotePort: 6000,
          payloadType: 111,
          codec: 'OPUS',
          clockRate: 48000,
          channels: 2,
          fmtp: 'useinbandfec=1',
          peerDirection: 'sendonly',
        },
      },
    ],
    [
      'H264 under another dynamic payload type, audio rejected with port 0',
      sdp(
        ...HEAD,
        'a=recvonly',
        'm=audio 0 RTP/AVP 0',
        'm=video 7000 RTP/AVP 97',
        'a=rtpmap:97 H264/90000',
        'a=fmtp:97 profile-level-id=42e01f;packetization-mode=1',
      ),
      {
        video: {
          kind: 'video',
          remoteAddress: '198.51.100.1',
          remotePort: 7000,
          payloadType: 97,
          codec: 'H264',
          clockRate: 90000,
          channels: 1,
          fmtp: 'profile-level-id=42e01f;packetization-mode=1',
          peerDirection: 'recvonly',
        },
      },
    ],
    [
      'static G722 without rtpmap, LF line ends',
      ['v=0', 'c=IN IP4 198.51.100.1', 'm=audio 6000 RTP/AVP 9', 'a=inactive'].join('\n'),
      {
        audio: {
          kind: 'audio',
          remoteAddress: '198.51.100.1',
          remotePort: 6000,
          payloadType: 9,
          codec: 'G722',
          clockRate: 8000,
          channels: 1,
          peerDirection: 'inactive',
        },
      },
    ],
    ['no codec we offered', sdp(...HEAD, 'm=audio 6000 RTP/AVP 18', 'a=rtpmap:18 G729/8000'), {}],
    [
      'a payload type RTP cannot carry (over 127)',
      sdp(...HEAD, 'm=audio 6000 RTP/AVP 200', 'a=rtpmap:200 PCMU/8000'),
      {},
    ],
    ['empty body', '', {}],
  ])('%s', (_name, answer, expected) => {
    expect(parseAnswer(answer)).toEqual(expected);
  });
});

describe('answerReoffer', () => {
  it.each([
    ['hold with a=sendonly', 'sendonly', 'recvonly'],
    ['hold with a=inactive', 'inactive', 'inactive'],
    ['unhold with a=sendrecv', 'sendrecv', 'sendrecv'],
    ['peer only receives', 'recvonly', 'sendonly'],
  ])('%s: we answer %s', (_name, peer, ours) => {
    const offer = sdp(...HEAD, 'm=audio 6002 RTP/AVP 8 0 101', 'a=rtpmap:101 telephone-event/8000', `a=${peer}`);
    const { answer, media } = answerReoffer(offer, both, 4, '42');
    expect(answer).toBe(
      sdp(
        'v=0',
        'o=- 42 4 IN IP4 203.0.113.7',
        's=-',
        'c=IN IP4 203.0.113.7',
        't=0 0',
        'm=audio 40000 RTP/AVP 8 101',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-16',
        `a=${ours}`,
      ),
    );
    expect(media.audio).toMatchObject({ codec: 'PCMA', remotePort: 6002, peerDirection: peer });
  });

  it('answers every offered m-line in order, rejecting what we do not take with port 0', () => {
    const offer = sdp(
      ...HEAD,
      'm=video 7000 RTP/AVP 100',
      'a=rtpmap:100 VP8/90000',
      'm=audio 6000 RTP/AVP 0',
      'm=application 9 UDP/BFCP *',
    );
    const { answer, media } = answerReoffer(offer, both, 2);
    expect(answer.match(/^m=.*$/gm)).toEqual([
      'm=video 0 RTP/AVP 100',
      'm=audio 40000 RTP/AVP 0',
      'm=application 0 UDP/BFCP *',
    ]);
    expect(Object.keys(media)).toEqual(['audio']);
  });

  it('our recvonly video stays recvonly, or inactive when the peer only receives', () => {
    expect(answerDirection('sendrecv', 'recvonly')).toBe('recvonly');
    expect(answerDirection('recvonly', 'recvonly')).toBe('inactive');
  });
});
