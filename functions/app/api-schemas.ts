/**
 * Route descriptions for /openapi.json, built from the same zod schemas the handlers validate with. Handlers
 * parse bodies themselves (see create-app.ts) so that a missing Content-Type, broken JSON and oversize bodies
 * get our error format; these definitions only document.
 */
import { createRoute, type RouteConfig, z } from '@hono/zod-openapi';
import {
  callIdRequestSchema,
  callIdSchema,
  callRequestSchema,
  dtmfRequestSchema,
  wcsCallRequestSchema,
  wcsDtmfRequestSchema,
} from '../../shared/call-spec-schema.ts';
import { FAILURE_REASONS } from '../../shared/call-types.ts';
import { KEY_NAME_QUERY } from '../core/api-keys.ts';

const states = ['dialing', 'ringing', 'answered', 'streaming', 'ended', 'failed'] as const;

export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    field: z.string().optional(),
    /** `concurrency_limit` only: the key's `maxConcurrentCalls`. */
    limit: z.number().optional(),
  }),
});

/** The shape of `toCallView` (functions/core/call-record.ts). No password field exists here by construction. */
export const callViewSchema = z.object({
  callId: z.string(),
  state: z.enum(states),
  desiredState: z.enum(['live', 'ended']),
  callee: z.string(),
  rtmpUrl: z.string(),
  rtmpStream: z.string(),
  hasAudio: z.boolean(),
  hasVideo: z.boolean(),
  maxDurationSeconds: z.number(),
  rtpTimeoutSeconds: z.number(),
  connection: z.object({
    sipLogin: z.string(),
    sipAuthenticationName: z.string(),
    sipDomain: z.string(),
    sipPort: z.number(),
    sipRegisterRequired: z.boolean(),
    transport: z.enum(['udp', 'tcp', 'tls']),
    appKey: z.string().optional(),
  }),
  /** The API key that started the call, or `webhook:twilio` / `webhook:trigger`; absent in no-key mode. */
  keyName: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  stateTimes: z.record(z.string(), z.string()),
  ended: z
    .object({
      by: z.enum(['local', 'remote', 'limit']),
      reason: z.string(),
      sipCode: z.number().optional(),
      durationSeconds: z.number(),
    })
    .optional(),
  failure: z
    .object({ reason: z.enum(FAILURE_REASONS), message: z.string(), sipCode: z.number().optional() })
    .optional(),
  stats: z
    .object({
      rtpPackets: z.number(),
      rtpLost: z.number(),
      jitterMs: z.number(),
      rtpForeignDropped: z.number().optional(),
      bytesOut: z.number(),
      destinations: z
        .array(
          z.object({
            url: z.string(),
            state: z.enum(['connecting', 'live', 'retrying']),
            reconnects: z.number(),
            bytesOut: z.number(),
            lastError: z.string().optional(),
          }),
        )
        .optional(),
      audioLevelDb: z.number().optional(),
      at: z.string(),
    })
    .optional(),
  record: z.boolean(),
  /** What became of the recording, once the call is over; `url` fetches it (locally the route, on AWS pre-signed). */
  recording: z
    .object({
      state: z.enum(['saved', 'uploaded', 'failed']),
      bytes: z.number(),
      error: z.string().optional(),
      at: z.string(),
      url: z.string().optional(),
      /** A pre-signed link stops working then. */
      expiresAt: z.string().optional(),
    })
    .optional(),
  /** The latest stats as rates, oldest first (functions/core/stats-history.ts). */
  statsHistory: z
    .array(
      z.object({
        at: z.string(),
        bitrateKbps: z.number(),
        lossPercent: z.number(),
        audioLevelDb: z.number().optional(),
      }),
    )
    .optional(),
  /** Final calls only (functions/core/call-usage.ts). */
  usage: z
    .object({
      taskSeconds: z.number(),
      billableTaskSeconds: z.number(),
      mediaSeconds: z.number(),
      bytesOut: z.array(z.object({ url: z.string(), bytes: z.number() })),
      estimatedCostUsd: z.number(),
    })
    .optional(),
});

const instant = (field: string) =>
  z.string().refine((text) => !Number.isNaN(Date.parse(text)), `${field} must be a date or date-time (ISO 8601)`);

/** `from` (inclusive) and `to` (exclusive) bound the calls' creation time, as in /v1/usage. */
export const listQuerySchema = z.strictObject({
  state: z.enum(states).optional(),
  live: z.enum(['true', 'false']).optional(),
  from: instant('from').optional(),
  to: instant('to').optional(),
});
export const usageQuerySchema = z.strictObject({
  from: instant('from'),
  to: instant('to').optional(),
  key: z.string().regex(KEY_NAME_QUERY, 'key must be a key name: 1–64 characters of A–Z a–z 0–9 _ . : -').optional(),
});

const usageTotals = {
  calls: z.number(),
  taskSeconds: z.number(),
  billableTaskSeconds: z.number(),
  mediaSeconds: z.number(),
  bytesOut: z.number(),
  estimatedCostUsd: z.number(),
};

/** The answer of `GET /v1/usage` (functions/core/call-usage.ts `usageReport`). */
export const usageSchema = z.object({
  from: z.string(),
  to: z.string(),
  /** The `key` asked for, when one was. */
  key: z.string().optional(),
  ...usageTotals,
  /** The same totals per key name, names sorted, then `null`: the calls no key started. */
  byKey: z.array(z.object({ keyName: z.string().nullable(), ...usageTotals })),
});

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});
// The request schemas are zod's functional build (call-spec-schema.ts), which the generator cannot read: zod
// turns them into OpenAPI schema objects itself, and the generator takes those as they are.
const openApiSchema = (schema: z.core.$ZodType) => z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0' });
type RequestBodySchema = Extract<NonNullable<RouteConfig['request']>['body'], { content: unknown }>['content'][string];
const body = (schema: z.core.$ZodType) => ({
  body: { content: { 'application/json': { schema: openApiSchema(schema) } as RequestBodySchema }, required: true },
});
const errors = {
  400: json(errorSchema, 'Invalid request; `field` names the offending field'),
  401: json(errorSchema, 'Missing, unknown or revoked bearer API key'),
  404: json(errorSchema, 'No such call'),
  409: json(errorSchema, 'callId reused with another body, stream key in use, or call not live'),
  413: json(errorSchema, 'Body larger than 64 KiB'),
  503: json(errorSchema, 'No media task could be started or reached'),
};
const overLimit = json(
  errorSchema,
  'The API key has `maxConcurrentCalls` live calls already (`error.limit`): nothing was started',
);
const callIdParam = { params: z.object({ callId: z.string().openapi(openApiSchema(callIdSchema) as object) }) };

/**
 * Built when /openapi.json is first asked for (create-app.ts): zod's conversions of the request schemas take
 * 5–12 ms of CPU, which every cold start of the API would pay otherwise.
 */
export const documentedRoutes = () => [
  createRoute({
    method: 'post',
    path: '/v1/calls',
    request: body(callRequestSchema),
    responses: {
      201: json(callViewSchema, 'Call accepted'),
      200: json(callViewSchema, 'Same request again: the existing call'),
      ...errors,
      429: overLimit,
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/calls',
    request: { query: listQuerySchema },
    responses: { 200: json(z.object({ calls: z.array(callViewSchema) }), 'Calls'), ...errors },
  }),
  createRoute({
    method: 'get',
    path: '/v1/calls/{callId}',
    request: callIdParam,
    responses: { 200: json(callViewSchema, 'The call'), ...errors },
  }),
  createRoute({
    method: 'get',
    path: '/v1/calls/{callId}/recording',
    request: callIdParam,
    responses: {
      200: {
        content: { 'video/mp4': { schema: z.string().openapi({ format: 'binary' }) } },
        description: 'The recording (fragmented MP4: AAC, and H.264 when the call had video), as written so far',
      },
      302: { description: 'On AWS: to a pre-signed S3 link of the recording, valid for a few minutes' },
      ...errors,
      404: json(errorSchema, 'No such call, or the call has no recording'),
    },
  }),
  createRoute({
    method: 'get',
    path: '/v1/usage',
    request: { query: usageQuerySchema },
    responses: {
      200: json(
        usageSchema,
        'The usage of the finished calls created from `from` up to `to` (default: now), of the key `key` if given',
      ),
      ...errors,
    },
  }),
  createRoute({
    method: 'delete',
    path: '/v1/calls/{callId}',
    request: callIdParam,
    responses: { 202: json(callViewSchema, 'Hangup requested'), ...errors },
  }),
  createRoute({
    method: 'post',
    path: '/v1/calls/{callId}/dtmf',
    request: { ...callIdParam, ...body(dtmfRequestSchema) },
    responses: { 202: json(callViewSchema, 'Digits sent to the task'), ...errors },
  }),
  createRoute({
    method: 'post',
    path: '/RESTCall/call',
    tags: ['WCS'],
    request: body(wcsCallRequestSchema),
    responses: { 200: json(callViewSchema, 'Call accepted'), ...errors, 429: overLimit },
  }),
  createRoute({
    method: 'post',
    path: '/RESTCall/sendDTMF',
    tags: ['WCS'],
    request: body(wcsDtmfRequestSchema),
    responses: { 200: json(callViewSchema, 'Digits sent'), ...errors },
  }),
  createRoute({
    method: 'post',
    path: '/rest-api/call/startup',
    tags: ['WCS 5'],
    request: body(wcsCallRequestSchema),
    responses: { 200: json(callViewSchema, 'Call accepted'), ...errors, 429: overLimit },
  }),
  createRoute({
    method: 'post',
    path: '/rest-api/call/terminate',
    tags: ['WCS 5'],
    request: body(callIdRequestSchema),
    responses: { 200: json(callViewSchema, 'Hangup requested'), ...errors },
  }),
  createRoute({
    method: 'post',
    path: '/rest-api/call/find',
    tags: ['WCS 5'],
    request: body(callIdRequestSchema),
    responses: { 200: json(z.array(callViewSchema), 'The call, as a one-element list'), ...errors },
  }),
  createRoute({
    method: 'post',
    path: '/rest-api/call/find_all',
    tags: ['WCS 5'],
    responses: { 200: json(z.array(callViewSchema), 'Live calls'), ...errors },
  }),
  createRoute({
    method: 'post',
    path: '/rest-api/call/send_dtmf',
    tags: ['WCS 5'],
    request: body(wcsDtmfRequestSchema),
    responses: { 200: json(callViewSchema, 'Digits sent'), ...errors },
  }),
];
