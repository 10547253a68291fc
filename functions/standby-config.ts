/**
 * The standby pool's size and timing (functions/core/standby-plan.ts), read from the same variables locally
 * (functions/local/local-config.ts) and in the API and sweeper Lambdas (functions/aws/aws-config.ts, set by
 * infra/gateway-stack.ts from the `standbyTasks` context value).
 */
import type { StandbyPolicy } from './core/standby-plan.ts';

export const STANDBY_ENV = {
  /** Tasks kept waiting for calls; 0 turns the pool off. */
  tasks: 'STANDBY_TASKS',
  /** An idle standby task is replaced after this many seconds. */
  maxIdleSeconds: 'STANDBY_MAX_IDLE_SECONDS',
} as const;

/**
 * A Fargate task is ready within a couple of minutes even with a cold image pull, a local one within a second;
 * a claim reaches `assigned` within one API request, which API Gateway ends after 29 s.
 */
const START_GRACE_MS = 300_000;
const HAND_OVER_GRACE_MS = 60_000;
const MAX_POOL = 100;

export class StandbyConfigError extends Error {
  override readonly name = 'StandbyConfigError';
}

export function readStandbyPolicy(env: NodeJS.ProcessEnv, defaultSize: number): StandbyPolicy {
  const size = readNumber(env, STANDBY_ENV.tasks, defaultSize);
  if (!(Number.isInteger(size) && size >= 0 && size <= MAX_POOL))
    throw new StandbyConfigError(
      `${STANDBY_ENV.tasks} must be a whole number from 0 to ${MAX_POOL}, not ${env[STANDBY_ENV.tasks]}`,
    );
  const maxIdle = readNumber(env, STANDBY_ENV.maxIdleSeconds, 3600);
  if (!(maxIdle >= 10 && maxIdle <= 7 * 24 * 3600))
    throw new StandbyConfigError(
      `${STANDBY_ENV.maxIdleSeconds} must be 10–604800 seconds, not ${env[STANDBY_ENV.maxIdleSeconds]}`,
    );
  return { size, maxIdleMs: maxIdle * 1000, startGraceMs: START_GRACE_MS, handOverGraceMs: HAND_OVER_GRACE_MS };
}

function readNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? fallback : Number(raw);
}
