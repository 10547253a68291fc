/**
 * Errors the control plane expects and handles. `app.onError` (functions/app/create-app.ts) is the only place
 * that turns them into HTTP status codes; anything else that escapes is a bug and answers 500.
 */

/** A request body or parameter that fails validation; `field` is the dotted path, e.g. `connection.sipPort`. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class CallNotFoundError extends Error {
  override readonly name = 'CallNotFoundError';
  constructor(readonly callId: string) {
    super(`call ${callId} not found`);
  }
}

/** The call exists but has no recording to fetch: none asked for, nothing written yet, not uploaded, or expired. */
export class RecordingNotFoundError extends Error {
  override readonly name = 'RecordingNotFoundError';
  constructor(readonly callId: string) {
    super(`call ${callId} has no recording`);
  }
}

/** The callId exists with a different body: ids are idempotency keys, so a reuse must not start a second call. */
export class CallIdConflictError extends Error {
  override readonly name = 'CallIdConflictError';
  constructor(readonly callId: string) {
    super(`call ${callId} already exists with a different body`);
  }
}

/** Another live call publishes to the same rtmpUrl + rtmpStream; a second publisher would hijack the stream key. */
export class StreamKeyInUseError extends Error {
  override readonly name = 'StreamKeyInUseError';
  constructor(readonly ownerCallId: string) {
    // The owner's id stays out of the message: it is another client's call.
    super('rtmpUrl and rtmpStream are already in use by a live call');
  }
}

/** The API key that asked for a call already has as many live calls as it may have at once. */
export class ConcurrencyLimitError extends Error {
  override readonly name = 'ConcurrencyLimitError';
  constructor(
    readonly keyName: string,
    readonly limit: number,
  ) {
    super(`key "${keyName}" allows ${limit} concurrent ${limit === 1 ? 'call' : 'calls'}`);
  }
}

/** The call is final; live-only operations (DTMF) no longer apply. */
export class CallNotLiveError extends Error {
  override readonly name = 'CallNotLiveError';
  constructor(
    readonly callId: string,
    readonly state: string,
  ) {
    super(`call ${callId} is ${state}`);
  }
}

/** A conditional write lost against a concurrent writer; callers reload and retry. */
export class ConcurrentUpdateError extends Error {
  override readonly name = 'ConcurrentUpdateError';
  constructor(
    readonly callId: string,
    options?: { cause?: unknown },
  ) {
    super(`call ${callId} was modified concurrently`, options);
  }
}

/** The task launcher could not start a media task (capacity, ECS API, spawn failure). */
export class LaunchError extends Error {
  override readonly name = 'LaunchError';
  /** `capacity`: the platform had no room for the task in time (quota, capacity, throttling), not a fault of ours. */
  readonly reason: 'launch' | 'capacity';
  constructor(message: string, options?: { cause?: unknown; reason?: 'launch' | 'capacity' }) {
    super(message, options);
    this.reason = options?.reason ?? 'launch';
  }
}

export class UnauthorizedError extends Error {
  override readonly name = 'UnauthorizedError';
  constructor() {
    super('missing or wrong API key');
  }
}

export class RequestTooLargeError extends Error {
  override readonly name = 'RequestTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes`);
  }
}
