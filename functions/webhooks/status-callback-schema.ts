/**
 * The optional `statusCallback` / `statusCallbackEvents` fields of a call request. They belong to the control
 * plane only (the media task never POSTs anything), so they are taken off the body before the strict call schema
 * sees it and stored on the record, not in the spec a task runs.
 *
 * The URL is checked like `rtmpUrl` (shared/call-spec-schema.ts): the gateway POSTs to it with its own
 * network identity, so link-local and cloud metadata targets would be an SSRF; userinfo would put credentials in
 * the record and in logs.
 */
import * as z from 'zod';
import { ValidationError } from '../../shared/call-errors.ts';
import { rtmpUrlProblem, toValidationError } from '../../shared/call-spec-schema.ts';
import type { StatusCallbackTarget } from '../core/ports.ts';

const STATES = ['dialing', 'ringing', 'answered', 'streaming', 'ended', 'failed'] as const;

/** Why `value` is not an acceptable callback URL, or undefined. */
export function callbackUrlProblem(value: string): string | undefined {
  if (!/^https?:\/\//i.test(value)) return 'must be an http:// or https:// URL';
  // Same host rules as RTMP targets: reuse that check on the same authority under the rtmp scheme.
  return rtmpUrlProblem(value.replace(/^https?/i, 'rtmp'));
}

export const statusCallbackFields = z.strictObject({
  statusCallback: z
    .string({ error: 'must be a string' })
    .max(2048, 'must be at most 2048 characters')
    .superRefine((value, ctx) => {
      const problem = callbackUrlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  statusCallbackEvents: z
    .array(z.enum(STATES, { error: `must be one of ${STATES.join(', ')}` }), { error: 'must be a list of states' })
    .min(1, 'must not be empty')
    .optional(),
});

/**
 * Splits the status-callback fields off a request body.
 * @param signingEnabled whether the server has a key to sign callbacks with; unsigned callbacks are not offered.
 * @throws ValidationError naming the field.
 */
export function takeStatusCallback(
  body: unknown,
  signingEnabled: boolean,
): { rest: unknown; statusCallback?: StatusCallbackTarget } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { rest: body };
  const { statusCallback, statusCallbackEvents, ...rest } = body as Record<string, unknown>;
  if (statusCallback === undefined && statusCallbackEvents === undefined) return { rest };
  const fields = { statusCallback, statusCallbackEvents };
  const parsed = statusCallbackFields.safeParse(fields);
  if (!parsed.success) throw toValidationError(parsed.error, fields);
  if (parsed.data.statusCallback === undefined)
    throw new ValidationError('statusCallback is required with statusCallbackEvents', 'statusCallback');
  if (!signingEnabled)
    throw new ValidationError(
      'statusCallback is not enabled on this server (no signing key configured)',
      'statusCallback',
    );
  const events = parsed.data.statusCallbackEvents;
  return {
    rest,
    statusCallback: { url: parsed.data.statusCallback, ...(events ? { events: [...new Set(events)] } : {}) },
  };
}
