/**
 * Retry with capped exponential backoff and full jitter for AWS calls that the service throttled. The SDK retries
 * too, but only a few times in quick succession; RunTask and PutEvents have low per-account rates (RunTask: a
 * burst of 100, then 40/s by default) and a burst of calls can exhaust the SDK's attempts.
 * Only throttling and transient server faults are retried: anything else is the caller's to translate.
 */

export interface RetryOptions {
  /** Total tries, the first included. Default 5. */
  attempts?: number;
  /** First backoff cap; it doubles per try up to `maxDelayMs`. Default 100 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** For tests: how to wait. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottledException',
  'LimitExceededException',
]);
const TRANSIENT = new Set([
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalServerError',
  'ServerException',
]);

/** True for errors that a later, slower try may not meet. */
export function isRetryableAwsError(error: unknown): boolean {
  const e = error as
    { name?: string; $retryable?: { throttling?: boolean }; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e) return false;
  if (e.$retryable) return true;
  if (e.name && (THROTTLING.has(e.name) || TRANSIENT.has(e.name))) return true;
  const status = e.$metadata?.httpStatusCode;
  return status === 429 || status === 503;
}

/** Runs `operation` until it succeeds, fails with a non-retryable error, or runs out of tries. */
export async function withBackoff<T>(operation: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 100;
  const max = options.maxDelayMs ?? 5_000;
  const { sleep, random } = retryClock(options);
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !isRetryableAwsError(error)) throw error;
      // Full jitter: callers throttled together spread out instead of retrying in lockstep.
      await sleep(Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1))));
    }
  }
}

/** How a retry waits and draws its jitter: the options' own (tests), else real time and Math.random. */
export function retryClock(options: RetryOptions = {}): { sleep: (ms: number) => Promise<void>; random: () => number } {
  return {
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
    random: options.random ?? Math.random,
  };
}
