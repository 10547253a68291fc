/**
 * How long finished calls, and so their usage, stay readable: read from the same variable by the local server
 * and by every Lambda that writes a final state (set by infra/gateway-stack.ts from the `callRetentionDays`
 * context). The name is defined once, here.
 */
import { DEFAULT_RETENTION_DAYS } from '../shared/aws/dynamodb-call-store.ts';

export const RETENTION_ENV = 'CALL_RETENTION_DAYS';

export class RetentionConfigError extends Error {
  override readonly name = 'RetentionConfigError';
}

/** Seconds; fails naming the variable when it is not a whole number of days from 1 to 3650. */
export function readRetentionSeconds(env: NodeJS.ProcessEnv): number {
  const raw = env[RETENTION_ENV];
  const days = raw === undefined || raw === '' ? DEFAULT_RETENTION_DAYS : Number(raw);
  if (!(Number.isInteger(days) && days >= 1 && days <= 3650))
    throw new RetentionConfigError(`${RETENTION_ENV} must be 1–3650 days, not ${raw}`);
  return days * 24 * 3600;
}
