/**
 * Inbound webhooks: Twilio's callbacks and a generic signed trigger. They are mounted outside the bearer-key
 * check (functions/app/create-app.ts) because their senders authenticate by signature instead; a route whose
 * secret is not configured does not exist (404).
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { CallNotFoundError, ValidationError } from '../../shared/call-errors.ts';
import { WEBHOOK_KEY_NAMES, type CallOrigin } from '../core/api-keys.ts';
import { toCallView } from '../core/call-record.ts';
import type { Pricing } from '../core/call-usage.ts';
import {
  callIdSchema,
  dtmfSchema,
  parseOrThrow,
  toCallSpec,
  wcsCallRequestSchema,
} from '../../shared/call-spec-schema.ts';
import type { CallRecord, Logger, StatusCallbackTarget } from '../core/ports.ts';
import type { CallSpec } from '../../shared/call-types.ts';
import * as z from 'zod';
import { SIGNATURE_HEADER, TWILIO_SIGNATURE_HEADER, verifyBodySignature, verifyTwilioSignature } from './signature.ts';
import { takeStatusCallback } from './status-callback-schema.ts';
import { conferenceAction, voiceTwiml } from './twilio-trigger.ts';
import type { WebhookConfig } from './webhook-config.ts';

/** A webhook whose signature is missing or wrong; answered 403 (functions/app/create-app.ts). */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
  constructor(readonly source: 'twilio' | 'trigger') {
    super(`missing or invalid ${source === 'twilio' ? TWILIO_SIGNATURE_HEADER : SIGNATURE_HEADER} header`);
  }
}

const triggerSchema = z.discriminatedUnion(
  'action',
  [
    z.strictObject({ action: z.literal('start'), call: z.unknown() }),
    z.strictObject({ action: z.literal('hangup'), callId: callIdSchema }),
    z.strictObject({ action: z.literal('dtmf'), callId: callIdSchema, dtmf: dtmfSchema }),
  ],
  { error: 'action must be start, hangup or dtmf' },
);

/**
 * What the routes ask of the call service. Declared here, not imported from functions/app, so that webhooks
 * depend on the core only; the app's `CallService` fits it.
 */
export interface WebhookCalls {
  start(
    spec: CallSpec,
    options: { statusCallback?: StatusCallbackTarget; origin: CallOrigin },
  ): Promise<{ created: boolean; record: CallRecord }>;
  hangup(callId: string): Promise<CallRecord>;
  sendDtmf(callId: string, digits: string): Promise<CallRecord>;
}

export interface WebhookRouteDeps {
  calls: WebhookCalls;
  config: WebhookConfig;
  logger: Logger;
  now: () => Date;
  /** Prices the usage in the call views the routes answer with. */
  pricing: Pricing;
}

/** Webhook calls are recorded under these names (no key started them) and have no concurrency limit. */
const TWILIO_ORIGIN: CallOrigin = { name: WEBHOOK_KEY_NAMES.twilio };
const TRIGGER_ORIGIN: CallOrigin = { name: WEBHOOK_KEY_NAMES.trigger };

export function mountWebhooks(app: OpenAPIHono, deps: WebhookRouteDeps): void {
  const { calls, config, logger } = deps;
  const view = (record: CallRecord) => toCallView(record, deps.pricing);
  const notFound = (c: Context) =>
    c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404);

  app.post('/webhooks/twilio', async (c) => {
    const twilio = config.twilio;
    if (!twilio) return notFound(c);
    const params = await verifiedTwilioForm(c, twilio.authToken, twilio.publicBaseUrl);
    const action = conferenceAction(params, twilio);
    if (action.type === 'start') {
      const { created, record } = await calls.start(action.spec, { origin: TWILIO_ORIGIN });
      logger.info('twilio conference-start', { callId: record.callId, created });
      return c.json({ action: 'start', call: view(record) }, 200);
    }
    if (action.type === 'hangup') {
      // An end without a call (its start failed, or the record expired) is nothing to do, not an error to retry.
      const record = await calls.hangup(action.callId).catch((error: unknown) => {
        if (error instanceof CallNotFoundError) return undefined;
        throw error;
      });
      logger.info('twilio conference-end', { callId: action.callId, found: record !== undefined });
      return c.json({ action: 'hangup', ...(record ? { call: view(record) } : {}) }, 200);
    }
    return c.json({ action: 'ignore', reason: action.reason }, 200);
  });

  app.post('/webhooks/twilio/voice', async (c) => {
    const twilio = config.twilio;
    if (!twilio) return notFound(c);
    const params = await verifiedTwilioForm(c, twilio.authToken, twilio.publicBaseUrl);
    return c.body(voiceTwiml(params), 200, { 'content-type': 'text/xml; charset=utf-8' });
  });

  app.post('/webhooks/trigger', async (c) => {
    const key = config.triggerSigningKey;
    if (!key) return notFound(c);
    const text = await c.req.text();
    if (!verifyBodySignature(key, c.req.header(SIGNATURE_HEADER), text, Math.floor(deps.now().getTime() / 1000)))
      throw new WebhookSignatureError('trigger');
    const request = parseOrThrow(triggerSchema, parseJson(text));
    switch (request.action) {
      case 'start': {
        const { rest, statusCallback } = takeStatusCallback(request.call, config.statusSigningKey !== undefined);
        // callId is required here: it makes the sender's retries (and replays within the signature window) idempotent.
        const spec = toCallSpec(parseOrThrow(wcsCallRequestSchema, rest), () => '');
        const { created, record } = await calls.start(spec, {
          origin: TRIGGER_ORIGIN,
          ...(statusCallback ? { statusCallback } : {}),
        });
        return c.json(view(record), created ? 201 : 200);
      }
      case 'hangup':
        return c.json(view(await calls.hangup(request.callId)), 202);
      case 'dtmf':
        return c.json(view(await calls.sendDtmf(request.callId, request.dtmf)), 202);
    }
  });
}

/** Reads Twilio's form body and checks its signature over the URL Twilio called. */
async function verifiedTwilioForm(
  c: Context,
  authToken: string,
  publicBaseUrl: string | undefined,
): Promise<URLSearchParams> {
  const params = new URLSearchParams(await c.req.text());
  const requestUrl = new URL(c.req.url);
  const url = publicBaseUrl ? `${publicBaseUrl}${requestUrl.pathname}${requestUrl.search}` : requestUrl.href;
  if (!verifyTwilioSignature(authToken, c.req.header(TWILIO_SIGNATURE_HEADER), url, params))
    throw new WebhookSignatureError('twilio');
  return params;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ValidationError('request body is not valid JSON', undefined, { cause: error });
  }
}
