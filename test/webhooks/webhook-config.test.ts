import { describe, expect, it } from 'vitest';
import { describeWebhookConfig, readWebhookConfig } from '../../functions/webhooks/webhook-config.ts';

const twilioEnv = {
  TWILIO_AUTH_TOKEN: 'tok-secret',
  TWILIO_SIP_DOMAIN: 'mydomain.sip.twilio.com',
  TWILIO_SIP_LOGIN: 'gateway',
  TWILIO_SIP_PASSWORD: 'sip-secret',
  TWILIO_RTMP_URL: 'rtmp://cdn.example.com/live',
};

describe('readWebhookConfig', () => {
  it('is all off without variables', () => {
    expect(readWebhookConfig({})).toEqual({});
  });

  it('reads the Twilio template with a default stream name and a normalized public URL', () => {
    expect(readWebhookConfig({ ...twilioEnv, PUBLIC_BASE_URL: 'https://api.example.com/prod/' }).twilio).toEqual({
      authToken: 'tok-secret',
      publicBaseUrl: 'https://api.example.com/prod',
      sipDomain: 'mydomain.sip.twilio.com',
      sipLogin: 'gateway',
      sipPassword: 'sip-secret',
      rtmpUrl: 'rtmp://cdn.example.com/live',
      rtmpStream: '{conference}',
    });
  });

  it.each([
    ['TWILIO_SIP_DOMAIN', { ...twilioEnv, TWILIO_SIP_DOMAIN: '' }],
    ['TWILIO_RTMP_URL', { ...twilioEnv, TWILIO_RTMP_URL: undefined }],
    ['TWILIO_RTMP_URL', { ...twilioEnv, TWILIO_RTMP_URL: 'rtmp://169.254.169.254/live' }],
    ['STATUS_CALLBACK_SIGNING_KEY', { STATUS_CALLBACK_SIGNING_KEY: 'short' }],
    ['TRIGGER_SIGNING_KEY', { TRIGGER_SIGNING_KEY: 'short' }],
  ])('fails naming %s', (name, env) => {
    expect(() => readWebhookConfig(env)).toThrow(name);
  });

  it('describes itself without any secret', () => {
    const text = JSON.stringify(
      describeWebhookConfig(
        readWebhookConfig({
          ...twilioEnv,
          STATUS_CALLBACK_SIGNING_KEY: 'status-key-secret-123',
          TRIGGER_SIGNING_KEY: 'trigger-key-secret-12',
        }),
      ),
    );
    for (const secret of ['tok-secret', 'sip-secret', 'status-key-secret-123', 'trigger-key-secret-12'])
      expect(text).not.toContain(secret);
    expect(text).toContain('mydomain.sip.twilio.com');
  });
});
