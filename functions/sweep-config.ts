/**
 * The sweeper's timing (functions/core/call-sweep.ts), read from the same variables locally
 * (functions/local/local-config.ts) and in the sweeper Lambda (functions/aws/aws-config.ts, set by
 * infra/gateway-stack.ts). Names defined once, here.
 */
import type { SweepPolicy } from './core/call-sweep.ts';

export const SWEEP_ENV = {
  /** Local server only: seconds between sweeps (on AWS the schedule rule runs it every minute). */
  intervalSeconds: 'SWEEP_INTERVAL_SECONDS',
  launchGraceSeconds: 'SWEEP_LAUNCH_GRACE_SECONDS',
  stoppedGraceSeconds: 'SWEEP_STOPPED_GRACE_SECONDS',
  limitGraceSeconds: 'SWEEP_LIMIT_GRACE_SECONDS',
} as const;

/**
 * Defaults. The launch grace outlasts the API Lambda's 29 s timeout, so a launch still in flight has attached its
 * task by then; the stopped grace outlasts the reconciler's 5 s wait for a final event. With a sweep every
 * minute, each fault frees its stream key within grace + 60 s.
 */
export const SWEEP_DEFAULTS = {
  intervalSeconds: 10,
  launchGraceSeconds: 30,
  stoppedGraceSeconds: 30,
  limitGraceSeconds: 30,
} as const;

export class SweepConfigError extends Error {
  override readonly name = 'SweepConfigError';
}

export interface SweepConfig {
  intervalMs: number;
  policy: SweepPolicy;
}

export function readSweepConfig(env: NodeJS.ProcessEnv): SweepConfig {
  const seconds = (key: keyof typeof SWEEP_ENV, min: number, max: number): number => {
    const name = SWEEP_ENV[key];
    const raw = env[name];
    const value = raw === undefined || raw === '' ? SWEEP_DEFAULTS[key] : Number(raw);
    if (!(Number.isFinite(value) && value >= min && value <= max))
      throw new SweepConfigError(`${name} must be ${min}–${max} seconds, not ${raw}`);
    return value * 1000;
  };
  return {
    intervalMs: seconds('intervalSeconds', 0.1, 3600),
    policy: {
      launchGraceMs: seconds('launchGraceSeconds', 0, 3600),
      stoppedGraceMs: seconds('stoppedGraceSeconds', 0, 3600),
      limitGraceMs: seconds('limitGraceSeconds', 0, 3600),
    },
  };
}
