/**
 * Configuration of status callbacks and triggers, read from the environment once per process (local server and
 * Lambda alike). Variable names live here only; infra imports `WEBHOOK_ENV` to set them.
 */
import { rtmpUrlProblem } from '../../shared/call-spec-schema.ts';

export const WEBHOOK_ENV = {
  /** HMAC-SHA256 key that signs status callbacks; without it calls may not ask for a `statusCallback`. */
  statusSigningKey: 'STATUS_CALLBACK_SIGNING_KEY',
  /** HMAC-SHA256 key that callers of `POST /webhooks/trigger` sign with; without it the route answers 404. */
  triggerSigningKey: 'TRIGGER_SIGNING_KEY',
  /** The Twilio account's auth token; enables `POST /webhooks/twilio/*`. */
  twilioAuthToken: 'TWILIO_AUTH_TOKEN',
  /**
   * The gateway's public base URL as Twilio calls it (`https://abc.execute-api.eu-west-1.amazonaws.com/prod`).
   * Twilio's signature covers the full URL; behind a proxy or an API Gateway stage the URL the app sees differs.
   */
  publicBaseUrl: 'PUBLIC_BASE_URL',
  /** e.g. `mydomain.sip.twilio.com`: the SIP domain whose Voice URL joins callers to the conference they dial. */
  twilioSipDomain: 'TWILIO_SIP_DOMAIN',
  twilioSipLogin: 'TWILIO_SIP_LOGIN',
  twilioSipPassword: 'TWILIO_SIP_PASSWORD',
  twilioRtmpUrl: 'TWILIO_RTMP_URL',
  /** Stream name template: `{conference}` (friendly name) and `{sid}` (ConferenceSid) are replaced. */
  twilioRtmpStream: 'TWILIO_RTMP_STREAM',
} as const;

/** How a Twilio conference becomes a broadcast. */
export interface TwilioTemplate {
  authToken: string;
  publicBaseUrl?: string;
  sipDomain: string;
  sipLogin: string;
  sipPassword: string;
  rtmpUrl: string;
  rtmpStream: string;
}

export interface WebhookConfig {
  statusSigningKey?: string;
  triggerSigningKey?: string;
  twilio?: TwilioTemplate;
}

export class WebhookConfigError extends Error {
  override readonly name = 'WebhookConfigError';
}

/** @throws WebhookConfigError naming the variable, when a feature is half configured. */
export function readWebhookConfig(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const get = (name: string) => env[name] || undefined;
  const config: WebhookConfig = {};
  const statusSigningKey = get(WEBHOOK_ENV.statusSigningKey);
  const triggerSigningKey = get(WEBHOOK_ENV.triggerSigningKey);
  for (const [name, key] of [
    [WEBHOOK_ENV.statusSigningKey, statusSigningKey],
    [WEBHOOK_ENV.triggerSigningKey, triggerSigningKey],
  ] as const) {
    // A short key would make HMACs guessable offline from one captured request.
    if (key !== undefined && key.length < 16) throw new WebhookConfigError(`${name} must be at least 16 characters`);
  }
  if (statusSigningKey) config.statusSigningKey = statusSigningKey;
  if (triggerSigningKey) config.triggerSigningKey = triggerSigningKey;

  const authToken = get(WEBHOOK_ENV.twilioAuthToken);
  if (authToken) {
    const require = (name: string) => {
      const value = get(name);
      if (!value) throw new WebhookConfigError(`${name} is required when ${WEBHOOK_ENV.twilioAuthToken} is set`);
      return value;
    };
    const rtmpUrl = require(WEBHOOK_ENV.twilioRtmpUrl);
    const problem = rtmpUrlProblem(rtmpUrl);
    if (problem) throw new WebhookConfigError(`${WEBHOOK_ENV.twilioRtmpUrl} ${problem}`);
    config.twilio = {
      authToken,
      ...(get(WEBHOOK_ENV.publicBaseUrl) ? { publicBaseUrl: get(WEBHOOK_ENV.publicBaseUrl)!.replace(/\/+$/, '') } : {}),
      sipDomain: require(WEBHOOK_ENV.twilioSipDomain),
      sipLogin: require(WEBHOOK_ENV.twilioSipLogin),
      sipPassword: get(WEBHOOK_ENV.twilioSipPassword) ?? '',
      rtmpUrl,
      rtmpStream: get(WEBHOOK_ENV.twilioRtmpStream) ?? '{conference}',
    };
  }
  return config;
}

/** What the server may log about the config: which features are on, never a key. */
export function describeWebhookConfig(config: WebhookConfig): Record<string, unknown> {
  return {
    statusCallbacks: config.statusSigningKey ? 'on' : 'off',
    genericTrigger: config.triggerSigningKey ? 'on' : 'off',
    twilioTrigger: config.twilio
      ? { sipDomain: config.twilio.sipDomain, rtmpUrl: config.twilio.rtmpUrl, rtmpStream: config.twilio.rtmpStream }
      : 'off',
  };
}
