/**
 * What Twilio's callbacks mean for the gateway, as pure functions over the form parameters.
 *
 * - Conference status callbacks (`StatusCallbackEvent`): `conference-start` dials the conference through the
 *   account's SIP domain and streams it to the configured RTMP target; `conference-end` hangs that call up. The
 *   call id is derived from the ConferenceSid, so Twilio's retries are idempotent and the end finds the start.
 * - The SIP domain's Voice URL: Twilio asks what to do with our INVITE to `sip:<room>@<domain>`; the answer joins
 *   the conference named `<room>` as a muted listener (this is the "Voice Url" step of the Twilio seed article).
 */
import { ValidationError } from '../../shared/call-errors.ts';
import { callRequestSchema, parseOrThrow, toCallSpec } from '../../shared/call-spec-schema.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import type { TwilioTemplate } from './webhook-config.ts';

export type TwilioAction =
  { type: 'start'; spec: CallSpec } | { type: 'hangup'; callId: string } | { type: 'ignore'; reason: string };

const CONFERENCE_SID = /^CF[0-9a-f]{32}$/;

export function conferenceCallId(conferenceSid: string): string {
  return `twilio-${conferenceSid}`;
}

/** @throws ValidationError when a conference event lacks a well-formed ConferenceSid or FriendlyName. */
export function conferenceAction(params: URLSearchParams, template: TwilioTemplate): TwilioAction {
  const event = params.get('StatusCallbackEvent');
  if (event !== 'conference-start' && event !== 'conference-end')
    return { type: 'ignore', reason: `event ${event ?? '(none)'} is not mapped` };
  const sid = params.get('ConferenceSid') ?? '';
  if (!CONFERENCE_SID.test(sid))
    throw new ValidationError('ConferenceSid must be CF followed by 32 hex digits', 'ConferenceSid');
  const callId = conferenceCallId(sid);
  if (event === 'conference-end') return { type: 'hangup', callId };

  const name = params.get('FriendlyName') ?? '';
  if (!name) throw new ValidationError('FriendlyName is required', 'FriendlyName');
  const request = {
    callId,
    callee: roomToSipUser(name),
    rtmpUrl: template.rtmpUrl,
    rtmpStream: template.rtmpStream.replaceAll('{conference}', streamSafe(name)).replaceAll('{sid}', sid),
    // Conferences carry audio only. sendrecv (with our comfort silence) as in the Twilio seed article.
    hasAudio: true,
    hasVideo: false,
    // YouTube and Facebook refuse audio-only FLV, and the RTMP target is often one of them.
    video: 'slate',
    connection: { sipLogin: template.sipLogin, sipPassword: template.sipPassword, sipDomain: template.sipDomain },
  };
  return { type: 'start', spec: toCallSpec(parseOrThrow(callRequestSchema, request), () => callId) };
}

/**
 * The room travels as the SIP user part, base64url-encoded: any friendly name (spaces, unicode) becomes a valid
 * RFC 3261 user of characters nothing escapes on the way, so the Voice URL reads back exactly the name we sent.
 * (Percent-encoding would not survive: the SIP stack escapes `%` again.)
 */
export function roomToSipUser(room: string): string {
  return Buffer.from(room, 'utf8').toString('base64url');
}

/** TwiML for the SIP domain's Voice URL: join the conference the INVITE's user part names, muted. */
export function voiceTwiml(params: URLSearchParams): string {
  const user = /^sips?:([A-Za-z0-9_-]+)@/i.exec(params.get('To') ?? '')?.[1];
  const room = user === undefined ? '' : Buffer.from(user, 'base64url').toString('utf8');
  if (!room) return twiml('<Reject reason="rejected"/>');
  // startConferenceOnEnter=false: the gateway is a listener, it must not keep a conference alive on its own.
  return twiml(
    `<Dial><Conference muted="true" beep="false" startConferenceOnEnter="false" endConferenceOnExit="false">${escapeXml(room)}</Conference></Dial>`,
  );
}

function twiml(verbs: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${verbs}</Response>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A friendly name as an RTMP stream name: no spaces or controls (ffmpeg argv, URLs), no leading dash. */
function streamSafe(name: string): string {
  return name
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .replace(/^-+/, '_')
    .slice(0, 128);
}
