/**
 * The HTTP API: Web Call Server compatible routes (so existing WCS scripts keep working) and a native /v1 API.
 * Built from its dependencies only; entry points decide where it runs (Lambda: `handle(createApp(...))`, local:
 * `serve(createApp(...))`).
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  CallIdConflictError,
  CallNotFoundError,
  CallNotLiveError,
  ConcurrencyLimitError,
  ConcurrentUpdateError,
  LaunchError,
  RecordingNotFoundError,
  RequestTooLargeError,
  StreamKeyInUseError,
  UnauthorizedError,
  ValidationError,
} from '../../shared/call-errors.ts';
import { findApiKey, type ApiKey, type ApiKeySource } from '../core/api-keys.ts';
import { toCallView } from '../core/call-record.ts';
import { createdWithin, LIST_PRICES, usageReport, type Pricing } from '../core/call-usage.ts';
import {
  callIdRequestSchema,
  callIdSchema,
  callRequestSchema,
  dtmfRequestSchema,
  parseOrThrow,
  toCallSpec,
  wcsCallRequestSchema,
  wcsDtmfRequestSchema,
} from '../../shared/call-spec-schema.ts';
import type {
  CallRecord,
  CallStore,
  HostResolver,
  Logger,
  RecordingStore,
  StandbyTasks,
  TaskLauncher,
} from '../core/ports.ts';
import { documentedRoutes, listQuerySchema, usageQuerySchema } from './api-schemas.ts';
import { CallService, type StateChangeListener } from './call-service.ts';
import { CrossSiteRequestError, crossSiteGuard } from './cross-site-guard.ts';
import { mountConsole } from '../console/console-routes.ts';
import { takeStatusCallback } from '../webhooks/status-callback-schema.ts';
import type { WebhookConfig } from '../webhooks/webhook-config.ts';
import { mountWebhooks, WebhookSignatureError } from '../webhooks/webhook-routes.ts';

export const MAX_BODY_BYTES = 64 * 1024;

declare module 'hono' {
  /** What the key check leaves for the routes: the key the request came with (none in no-key mode). */
  interface ContextVariableMap {
    apiKey?: ApiKey;
  }
}

export interface AppDeps {
  store: CallStore;
  launcher: TaskLauncher;
  /** Tasks started ahead of calls (functions/standby-pool.ts); absent → every call launches its own. */
  standby?: StandbyTasks;
  /** What the names in a call resolve to, checked against the same blocklist as addresses written out. */
  resolveHost: HostResolver;
  /**
   * When set, every route but /openapi.json, the console's files and the webhooks needs `Authorization: Bearer
   * <key>` of a key that is not revoked (functions/core/api-keys.ts); unset, cross-site-guard.ts applies.
   */
  apiKeys?: ApiKeySource;
  /** Prices usage in call views and `GET /v1/usage` (functions/pricing-config.ts); default: the list prices. */
  pricing?: Pricing;
  /** Listening on loopback addresses only: without an API key, requests must then name a loopback host too. */
  loopbackOnly?: boolean;
  logger: Logger;
  now?: () => Date;
  newCallId?: () => string;
  /** Signing keys and the Twilio template (functions/webhooks/webhook-config.ts); absent → all off. */
  webhooks?: WebhookConfig;
  /** State changes the API causes itself; the entry point hands them to the status notifier. */
  onStateChange?: StateChangeListener;
  /** Where recordings are (a local folder, the stack's bucket); absent → no call has a recording to fetch. */
  recordings?: RecordingStore;
  /** Prometheus text for `GET /metrics` (local mode, functions/local/gateway-metrics.ts); absent → no route. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export function createApp(deps: AppDeps) {
  const now = deps.now ?? (() => new Date());
  const pricing = deps.pricing ?? LIST_PRICES;
  const newCallId = deps.newCallId ?? (() => crypto.randomUUID());
  const webhooks = deps.webhooks ?? {};
  const calls = new CallService({
    store: deps.store,
    launcher: deps.launcher,
    ...(deps.standby ? { standby: deps.standby } : {}),
    resolveHost: deps.resolveHost,
    logger: deps.logger,
    now,
    ...(deps.onStateChange ? { onStateChange: deps.onStateChange } : {}),
  });
  const app = new OpenAPIHono();

  app.onError((error, c) => toErrorResponse(c, error, deps.logger));
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  // The documented routes are registered on the document's first request (api-schemas.ts says why).
  let documented = false;
  app.use('/openapi.json', async (_c, next) => {
    if (!documented) {
      documented = true;
      for (const route of documentedRoutes()) app.openAPIRegistry.registerPath(route);
    }
    await next();
  });
  app.doc('/openapi.json', { openapi: '3.0.0', info: { title: 'SIP to RTMP gateway', version: '1' } });
  const { apiKeys } = deps;
  if (!apiKeys) {
    const guard = crossSiteGuard({ loopbackOnly: deps.loopbackOnly ?? false });
    // Webhooks check their own signatures, and come in through the tunnel or proxy in front of the server.
    app.use('*', (c, next) => (isWebhookPath(c.req.path) ? next() : guard(c, next)));
  } else {
    app.use('*', async (c, next) => {
      if (c.req.path === '/openapi.json' || isPublicPath(c.req.path)) return next();
      // Unknown and revoked keys get the same answer: nothing tells a revoked key from a guess.
      const key = findApiKey(await apiKeys(), c.req.header('authorization') ?? '');
      if (!key) throw new UnauthorizedError();
      c.set('apiKey', key);
      return next();
    });
  }
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new RequestTooLargeError(MAX_BODY_BYTES);
      },
    }),
  );

  const startCall = async (c: Context, schema: typeof callRequestSchema | typeof wcsCallRequestSchema) => {
    const { rest, statusCallback } = takeStatusCallback(await readJson(c), webhooks.statusSigningKey !== undefined);
    const spec = toCallSpec(parseOrThrow(schema, rest), newCallId);
    const origin = c.get('apiKey');
    const { created, record } = await calls.start(spec, {
      ...(statusCallback ? { statusCallback } : {}),
      ...(origin ? { origin } : {}),
    });
    return { created, view: await view(record) };
  };

  /** The call view with where to fetch its recording: the route below locally, a pre-signed link on AWS. */
  const view = async (record: CallRecord) => {
    const call = toCallView(record, pricing);
    if (!call.recording || !deps.recordings) return call;
    const location = await deps.recordings.locate(record);
    if (!location) return call;
    const link =
      location.kind === 'link'
        ? { url: location.url, expiresAt: location.expiresAt }
        : { url: `/v1/calls/${record.callId}/recording` };
    return { ...call, recording: { ...call.recording, ...link } };
  };

  mountConsole(app);
  mountWebhooks(app, { calls, config: webhooks, logger: deps.logger, now, pricing });

  // --- native API ---
  app.post('/v1/calls', async (c) => {
    const started = await startCall(c, callRequestSchema);
    return c.json(started.view, started.created ? 201 : 200);
  });
  app.get('/v1/calls', async (c) => {
    const query = parseOrThrow(listQuerySchema, c.req.query());
    const records = await deps.store.list({
      ...(query.state ? { state: query.state } : {}),
      ...(query.live ? { live: query.live === 'true' } : {}),
    });
    const from = query.from === undefined ? undefined : new Date(query.from);
    const to = query.to === undefined ? undefined : new Date(query.to);
    return c.json({ calls: await Promise.all(records.filter((record) => createdWithin(record, from, to)).map(view)) });
  });
  app.get('/v1/usage', async (c) => {
    const query = parseOrThrow(usageQuerySchema, c.req.query());
    const from = new Date(query.from);
    const to = query.to ? new Date(query.to) : undefined;
    const keyName = query.key;
    const report = usageReport(
      await deps.store.list({ live: false }),
      { from, ...(to ? { to } : {}), ...(keyName === undefined ? {} : { keyName }) },
      pricing,
    );
    return c.json({
      from: from.toISOString(),
      // Without `to`, up to now: a call created in this very millisecond counts too.
      to: (to ?? now()).toISOString(),
      ...(keyName === undefined ? {} : { key: keyName }),
      ...report,
    });
  });
  const { metrics } = deps;
  if (metrics) {
    app.get('/metrics', async (c) => {
      const { contentType, body } = await metrics();
      return c.body(body, 200, { 'content-type': contentType });
    });
  }
  app.get('/v1/calls/:callId', async (c) => c.json(await view(await calls.get(pathCallId(c)))));
  app.get('/v1/calls/:callId/recording', async (c) => {
    const callId = pathCallId(c);
    const location = await deps.recordings?.locate(await calls.get(callId));
    if (!location) throw new RecordingNotFoundError(callId);
    if (location.kind === 'link') return c.redirect(location.url, 302);
    return c.body(location.open(), 200, {
      'content-type': 'video/mp4',
      'content-length': String(location.bytes),
      'content-disposition': `attachment; filename="${callId}.mp4"`,
    });
  });
  app.delete('/v1/calls/:callId', async (c) => c.json(toCallView(await calls.hangup(pathCallId(c)), pricing), 202));
  app.get('/v1/calls/:callId/deliveries', async (c) => {
    const record = await calls.get(pathCallId(c));
    return c.json({ statusCallback: record.statusCallback ?? null, deliveries: record.deliveries ?? [] });
  });
  app.post('/v1/calls/:callId/dtmf', async (c) => {
    const callId = pathCallId(c);
    const { dtmf, method } = parseOrThrow(dtmfRequestSchema, await readJson(c));
    return c.json(view(await calls.sendDtmf(callId, dtmf, method)), 202);
  });

  // --- Web Call Server dialects: /RESTCall (WCS 4, as in the integration article) and /rest-api/call (WCS 5) ---
  const wcsStart = async (c: Context) => c.json((await startCall(c, wcsCallRequestSchema)).view, 200);
  const wcsDtmf = async (c: Context) => {
    const request = parseOrThrow(wcsDtmfRequestSchema, await readJson(c));
    const digits = (request.dtmf ?? request.dumf) as string;
    // RFC 2833 was obsoleted by RFC 4733, same payload format; INFO sends application/dtmf-relay.
    const method = request.type?.toUpperCase() === 'INFO' ? 'info' : 'rfc4733';
    return c.json(view(await calls.sendDtmf(request.callId, digits, method)), 200);
  };
  app.post('/RESTCall/call', wcsStart);
  app.post('/RESTCall/sendDTMF', wcsDtmf);
  app.post('/rest-api/call/startup', wcsStart);
  app.post('/rest-api/call/send_dtmf', wcsDtmf);
  app.post('/rest-api/call/terminate', async (c) => {
    const { callId } = parseOrThrow(callIdRequestSchema, await readJson(c));
    return c.json(view(await calls.hangup(callId)), 200);
  });
  app.post('/rest-api/call/find', async (c) => {
    const { callId } = parseOrThrow(callIdRequestSchema, await readJson(c));
    return c.json([await view(await calls.get(callId))], 200);
  });
  app.post('/rest-api/call/find_all', async (c) => c.json((await deps.store.list({ live: true })).map(view), 200));

  return app;
}

/**
 * Paths outside the bearer-key check: webhooks authenticate by signature, and the console's page and script are
 * static (the console sends the API key the user types with every API call).
 */
function isPublicPath(path: string): boolean {
  return path === '/' || path.startsWith('/console/') || isWebhookPath(path);
}

function isWebhookPath(path: string): boolean {
  return path.startsWith('/webhooks/');
}

function pathCallId(c: Context): string {
  const result = callIdSchema.safeParse(c.req.param('callId'));
  if (!result.success) throw new ValidationError('callId must be 1–64 characters of A–Z a–z 0–9 _ -', 'callId');
  return result.data;
}

/**
 * Reads the body as JSON whatever the Content-Type says: WCS samples send application/json, but scripts written
 * with `curl -d` send form-urlencoded headers with a JSON body, and WCS accepted those.
 */
async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw new ValidationError('request body must be a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ValidationError('request body is not valid JSON', undefined, { cause: error });
  }
}

const STATUS: [new (...args: never[]) => Error, ContentfulStatusCode, string][] = [
  [ValidationError, 400, 'invalid_request'],
  [UnauthorizedError, 401, 'unauthorized'],
  [WebhookSignatureError, 403, 'bad_signature'],
  [CrossSiteRequestError, 403, 'cross_site_request'],
  [CallNotFoundError, 404, 'not_found'],
  [RecordingNotFoundError, 404, 'not_found'],
  [CallIdConflictError, 409, 'call_id_conflict'],
  [StreamKeyInUseError, 409, 'stream_key_in_use'],
  [CallNotLiveError, 409, 'call_not_live'],
  [ConcurrencyLimitError, 429, 'concurrency_limit'],
  [RequestTooLargeError, 413, 'body_too_large'],
  [LaunchError, 503, 'task_unavailable'],
  // Lost every retry against concurrent writers of the same call: transient, the client may retry.
  [ConcurrentUpdateError, 503, 'busy'],
];

/** The one place where errors become HTTP answers. Unknown errors are bugs: logged, answered without detail. */
function toErrorResponse(c: Context, error: Error, logger: Logger) {
  for (const [type, status, code] of STATUS) {
    if (error instanceof type) {
      if (status === 401) c.header('WWW-Authenticate', 'Bearer');
      if (status >= 500) logger.warn('request failed', { path: c.req.path, error });
      const field = error instanceof ValidationError ? error.field : undefined;
      const limit = error instanceof ConcurrencyLimitError ? error.limit : undefined;
      return c.json(
        {
          error: {
            code,
            message: error.message,
            ...(field ? { field } : {}),
            ...(limit === undefined ? {} : { limit }),
          },
        },
        status,
      );
    }
  }
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    return c.json(
      { error: { code: status === 400 ? 'invalid_request' : 'http_error', message: error.message } },
      status,
    );
  }
  logger.error('unhandled error', { path: c.req.path, error });
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
}
