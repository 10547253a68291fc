/** Errors of the SIP module. Expected call outcomes (486, auth refused) are events, not these. */

/** A header value would have carried CR/LF (header injection) or another control character; nothing was sent. */
export class SipHeaderError extends Error {
  override name = 'SipHeaderError';
  constructor(
    message: string,
    readonly header: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The SIP socket could not be opened, or a request could not be handed to the transport. */
export class SipTransportError extends Error {
  override name = 'SipTransportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An in-dialog request (INFO, BYE) got a non-2xx final answer or none. */
export class SipRequestError extends Error {
  override name = 'SipRequestError';
  constructor(
    message: string,
    readonly method: string,
    readonly sipCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The call was asked to do something its state does not allow (DTMF before answer, bad digit). */
export class SipCallStateError extends Error {
  override name = 'SipCallStateError';
}
