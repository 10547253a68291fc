import { describe, expect, it } from 'vitest';
import { Dialog, withTransport } from '../../media-task/sip/dialog.ts';
import type { IncomingRequest, IncomingResponse, SipHeaders } from '../../media-task/sip/sip-stack.ts';

const headers = (overrides: Partial<SipHeaders>): SipHeaders => ({
  from: { uri: 'sip:a@b', params: {} },
  to: { uri: 'sip:c@d', params: {} },
  callId: 'call-1',
  cseq: { seq: 1, method: 'INVITE' },
  extra: {},
  ...overrides,
});
const ok = (overrides: Partial<SipHeaders>): IncomingResponse => ({
  status: 200,
  reason: 'OK',
  headers: headers(overrides),
  body: '',
  challenges: { www: [], proxy: [] },
  local: false,
});
const incoming = (overrides: Partial<SipHeaders>): IncomingRequest => ({
  method: 'BYE',
  uri: 'sip:gw@203.0.113.7:5060',
  headers: headers(overrides),
  body: '',
  remote: { address: '198.51.100.1', port: 5060 },
});

const contact = { uri: 'sip:gw@203.0.113.7:5060', params: {} };

function dialog(outbound = false): Dialog {
  return new Dialog({
    callId: 'call-1',
    localTag: 'ours',
    localUri: 'sip:gw@example.com',
    requestUri: 'sip:bob@pbx.example:5060;transport=tcp',
    outboundRoute: outbound ? [{ uri: 'sip:proxy.example:5060;lr', params: {} }] : [],
  });
}

describe('Dialog (RFC 3261 section 12)', () => {
  it('INVITE: To without tag and without transport, From with our tag, Route = outbound proxy', () => {
    const invite = dialog(true).invite(1, contact, {}, 'v=0');
    expect(invite.uri).toBe('sip:bob@pbx.example:5060;transport=tcp');
    expect(invite.headers.to).toEqual({ uri: 'sip:bob@pbx.example:5060', params: {} });
    expect(invite.headers.from).toEqual({ uri: 'sip:gw@example.com', params: { tag: 'ours' } });
    expect(invite.headers.route).toEqual([{ uri: 'sip:proxy.example:5060;lr', params: {} }]);
  });

  it('after the 2xx: remote target = Contact, route set = Record-Route reversed, To tag kept, CSeq increasing', () => {
    const d = dialog(true);
    expect(d.nextSeq()).toBe(1);
    d.establish(
      ok({
        to: { uri: 'sip:bob@pbx.example', params: { tag: 'theirs' } },
        contact: [{ uri: 'sip:bob@10.1.1.1:5070', params: {} }],
        recordRoute: [
          { uri: 'sip:p2.example;lr', params: {} },
          { uri: 'sip:p1.example;lr', params: {} },
        ],
      }),
    );
    const bye = d.request('BYE', d.nextSeq(), contact, {});
    expect(bye.uri).toBe('sip:bob@10.1.1.1:5070');
    expect(bye.headers.cseq).toEqual({ seq: 2, method: 'BYE' });
    expect(bye.headers.to.params.tag).toBe('theirs');
    expect(bye.headers.route?.map((route) => route.uri)).toEqual(['sip:p1.example;lr', 'sip:p2.example;lr']);
  });

  it('without Record-Route the dialog goes straight to the Contact (the outbound route is not kept)', () => {
    const d = dialog(true);
    d.establish(
      ok({
        to: { uri: 'sip:bob@pbx.example', params: { tag: 't' } },
        contact: [{ uri: 'sip:bob@10.1.1.1', params: {} }],
      }),
    );
    expect(d.request('INFO', 2, contact, {}).headers.route).toEqual([]);
  });

  it.each([
    [
      'the dialog',
      { to: { uri: 'sip:gw@b', params: { tag: 'ours' } }, from: { uri: 'sip:bob@x', params: { tag: 'theirs' } } },
      true,
    ],
    [
      'another call',
      {
        callId: 'other',
        to: { uri: 'sip:gw@b', params: { tag: 'ours' } },
        from: { uri: 'sip:bob@x', params: { tag: 'theirs' } },
      },
      false,
    ],
    [
      'a forked leg (other From tag)',
      { to: { uri: 'sip:gw@b', params: { tag: 'ours' } }, from: { uri: 'sip:bob@x', params: { tag: 'fork2' } } },
      false,
    ],
    [
      'no To tag',
      { to: { uri: 'sip:gw@b', params: {} }, from: { uri: 'sip:bob@x', params: { tag: 'theirs' } } },
      false,
    ],
  ])('matches a request of %s: %s', (_name, overrides, expected) => {
    const d = dialog();
    d.establish(ok({ to: { uri: 'sip:bob@pbx.example', params: { tag: 'theirs' } } }));
    expect(d.matches(incoming(overrides as Partial<SipHeaders>))).toBe(expected);
  });

  it('refuses a lower remote CSeq, accepts equal and higher ones', () => {
    const d = dialog();
    expect(d.acceptRemoteSeq(5)).toBe(true);
    expect(d.acceptRemoteSeq(5)).toBe(true);
    expect(d.acceptRemoteSeq(4)).toBe(false);
    expect(d.acceptRemoteSeq(9)).toBe(true);
  });

  it.each([
    ['sip:a@b:5060', 'udp', 'sip:a@b:5060'],
    ['sip:a@b:5060', 'tcp', 'sip:a@b:5060;transport=tcp'],
    ['sip:a@b:5061', 'tls', 'sip:a@b:5061;transport=tls'],
    ['sip:a@b;transport=TCP', 'tcp', 'sip:a@b;transport=TCP'],
  ] as const)('withTransport(%s, %s) = %s', (uri, transport, expected) => {
    expect(withTransport(uri, transport)).toBe(expected);
  });
});
