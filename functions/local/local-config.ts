import { resolve } from 'node:path';
import { readApiKeysSetting, type ApiKeysSetting } from '../api-keys-config.ts';
import type { Pricing } from '../core/call-usage.ts';
import { readPricing } from '../pricing-config.ts';
import { readRetentionSeconds } from '../retention-config.ts';
import type { StandbyPolicy } from '../core/standby-plan.ts';
import { readStandbyPolicy } from '../standby-config.ts';
import { readSweepConfig, type SweepConfig } from '../sweep-config.ts';

/** Environment variables of the local server, read once; API_KEYS_ENV and PRICING_ENV are read too. */
export const LOCAL_ENV = {
  port: 'PORT',
  host: 'HOST',
  dataDir: 'DATA_DIR',
  publicAddress: 'PUBLIC_ADDRESS',
  ffmpegPath: 'FFMPEG_PATH',
  /** Seconds a task has to exit after SIGTERM (a hang-up, a sweep past the limit, shutdown) before SIGKILL. */
  stopGraceSeconds: 'TASK_STOP_GRACE_SECONDS',
} as const;

export interface LocalConfig {
  port: number;
  host: string;
  dataDir: string;
  /** Absent: no key needed (functions/app/cross-site-guard.ts). */
  apiKeys?: ApiKeysSetting;
  /** Prices of usage estimates (functions/pricing-config.ts). */
  pricing: Pricing;
  /** Where media tasks bind SIP/RTP and what they advertise; a LAN or public IP when the SIP peer is remote. */
  bindAddress: string;
  publicAddress: string;
  ffmpegPath?: string;
  stopGraceMs: number;
  /** The stuck-call sweeper's timer and graces (functions/sweep-config.ts). */
  sweep: SweepConfig;
  /** How long finished calls stay in the store (functions/retention-config.ts). */
  retentionSeconds: number;
  /** Media tasks started ahead of calls (functions/standby-config.ts): 2 by default. */
  standby: StandbyPolicy;
}

export class LocalConfigError extends Error {
  override name = 'LocalConfigError';
}

export function readLocalConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const port = Number(env[LOCAL_ENV.port] ?? 9091);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new LocalConfigError(`${LOCAL_ENV.port} must be a port number, not ${env[LOCAL_ENV.port]}`);
  const publicAddress = env[LOCAL_ENV.publicAddress] ?? '127.0.0.1';
  // The task promises to hang up within 10 s of SIGTERM (media-task/main.ts).
  const stopGrace = Number(env[LOCAL_ENV.stopGraceSeconds] || 12);
  if (!(stopGrace >= 0.1 && stopGrace <= 600))
    throw new LocalConfigError(
      `${LOCAL_ENV.stopGraceSeconds} must be 0.1–600 seconds, not ${env[LOCAL_ENV.stopGraceSeconds]}`,
    );
  const apiKeys = readApiKeysSetting(env);
  return {
    port,
    host: env[LOCAL_ENV.host] ?? '127.0.0.1',
    dataDir: resolve(env[LOCAL_ENV.dataDir] ?? '.data'),
    ...(apiKeys ? { apiKeys } : {}),
    pricing: readPricing(env),
    bindAddress: publicAddress === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0',
    publicAddress,
    ffmpegPath: env[LOCAL_ENV.ffmpegPath] || undefined,
    stopGraceMs: stopGrace * 1000,
    sweep: readSweepConfig(env),
    retentionSeconds: readRetentionSeconds(env),
    standby: readStandbyPolicy(env, 2),
  };
}
