/** Building call records from specs, and the one serializer API answers use. */
import { isFinal } from '../../shared/call-types.ts';
import { callUsage, type Pricing } from './call-usage.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import type { CallRecord, CallSecret, PublicCallSpec } from './ports.ts';

/** Splits the password off the spec: it is stored apart and never returned. */
export function splitSecret(spec: CallSpec): { spec: PublicCallSpec; secret: CallSecret } {
  const { sipPassword, ...connection } = spec.connection;
  return { spec: { ...spec, connection }, secret: { sipPassword } };
}

/**
 * Identity of an RTMP publish point. Scheme and host are case-insensitive and default ports are spelled out, so
 * `rtmp://Host/live` and `rtmp://host:1935/live/` are the same key; the stream name stays case-sensitive.
 */
export function streamKeyOf(spec: Pick<CallSpec, 'rtmpUrl' | 'rtmpStream'>): string {
  const match = /^(rtmps?):\/\/([^/?#]*)(.*)$/i.exec(spec.rtmpUrl);
  if (!match) return `${spec.rtmpUrl}/${spec.rtmpStream}`;
  const scheme = (match[1] ?? '').toLowerCase();
  let authority = (match[2] ?? '').toLowerCase();
  if (!/:\d+$/.test(authority)) authority += scheme === 'rtmps' ? ':443' : ':1935';
  const path = (match[3] ?? '').replace(/\/+$/, '');
  return `${scheme}://${authority}${path}/${spec.rtmpStream}`;
}

/** A record for a call that was accepted but whose task has not reported yet. */
export function newCallRecord(spec: CallSpec, now: string): { record: CallRecord; secret: CallSecret } {
  const { spec: publicSpec, secret } = splitSecret(spec);
  return {
    record: {
      callId: spec.callId,
      spec: publicSpec,
      streamKey: streamKeyOf(spec),
      state: 'dialing',
      desired: 'live',
      lastSeq: 0,
      statsSeq: 0,
      version: 1,
      createdAt: now,
      updatedAt: now,
      stateTimes: { dialing: now },
    },
    secret,
  };
}

/**
 * Same request again? Compares everything, the password included (in constant time with respect to content).
 * A final call's password is no longer stored: its retry is judged on the rest, and starts nothing either way.
 */
export function sameRequest(existing: CallRecord, existingSecret: CallSecret | undefined, spec: CallSpec): boolean {
  const { spec: publicSpec, secret } = splitSecret(spec);
  const samePassword =
    existingSecret === undefined
      ? isFinal(existing.state)
      : equalStrings(existingSecret.sipPassword, secret.sipPassword);
  return canonicalJson(requested(existing.spec)) === canonicalJson(requested(publicSpec)) && samePassword;
}

/** The spec as the caller asked for it: the recording's id is the server's, made anew for every request. */
function requested(spec: PublicCallSpec): Omit<PublicCallSpec, 'recordingId'> {
  const { recordingId: _made, ...rest } = spec;
  return rest;
}

/**
 * What API answers and status callbacks contain. Picks fields explicitly so that nothing added to the record
 * leaks by default; a final call's usage is priced with `pricing`.
 */
export function toCallView(record: CallRecord, pricing: Pricing) {
  const usage = callUsage(record, pricing);
  const { connection } = record.spec;
  return {
    callId: record.callId,
    state: record.state,
    desiredState: record.desired,
    callee: record.spec.callee,
    rtmpUrl: record.spec.rtmpUrl,
    rtmpStream: record.spec.rtmpStream,
    hasAudio: record.spec.hasAudio,
    hasVideo: record.spec.hasVideo,
    maxDurationSeconds: record.spec.maxDurationSeconds,
    rtpTimeoutSeconds: record.spec.rtpTimeoutSeconds,
    connection: {
      sipLogin: connection.sipLogin,
      sipAuthenticationName: connection.sipAuthenticationName,
      sipDomain: connection.sipDomain,
      sipPort: connection.sipPort,
      sipRegisterRequired: connection.sipRegisterRequired,
      transport: connection.transport,
      ...(connection.appKey === undefined ? {} : { appKey: connection.appKey }),
    },
    ...(record.keyName === undefined ? {} : { keyName: record.keyName }),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    stateTimes: record.stateTimes,
    ...(record.ended ? { ended: record.ended } : {}),
    ...(record.failure ? { failure: record.failure } : {}),
    ...(record.stats ? { stats: record.stats } : {}),
    ...(record.statsHistory ? { statsHistory: record.statsHistory } : {}),
    record: record.spec.record ?? false,
    ...(record.recording ? { recording: recordingView(record.recording) } : {}),
    ...(usage ? { usage } : {}),
    // The ECS task ARN or local pid: what an operator needs to find the task's logs.
    ...(record.taskRef ? { taskRef: record.taskRef } : {}),
  };
}

export type CallView = ReturnType<typeof toCallView>;

/** The recording as answers show it; the link (local route or pre-signed S3 URL) is added by the API. */
function recordingView(recording: NonNullable<CallRecord['recording']>) {
  const { state, bytes, error, at } = recording;
  return { state, bytes, ...(error === undefined ? {} : { error }), at };
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** Constant-time string equality (no node:crypto in the core): the run time depends on lengths only. */
export function equalStrings(a: string, b: string): boolean {
  const length = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < length; i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}
