/**
 * Cuts received bytes into SIP messages (RFC 3261 section 18.3) in linear time, before any regular expression of
 * the `sip` package sees them. The package's own framing runs `^\s*([\S\s]*?)\r\n\r\n` over the whole buffer
 * on every chunk: 60 KB of spaces sent to our TCP port in 100-byte segments blocked the event loop for minutes,
 * one 64 KB UDP datagram of spaces for half a second. It also waited forever on a non-numeric Content-Length.
 * Pure: strings in (latin1, one char per byte, as the package reads them), frames out.
 */

/** Header block limit. Real messages carry a few hundred bytes of headers; PJSIP's whole packet limit is 4000. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** One header line: the package's header parsers scan each line with non-sticky regular expressions (quadratic). */
export const MAX_LINE_BYTES = 4 * 1024;
/** Body (SDP) limit; an SDP for one audio and one video stream is well under 2 KB. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface SipFrame {
  /** Start line and headers, without the blank line. */
  head: string;
  body: string;
}

export class SipFramingError extends Error {
  override name = 'SipFramingError';
}

/** Control characters other than HTAB have no place in a header block (RFC 3261 section 25.1). */
const CONTROL = /[\0-\x08\x0B\x0C\x0E-\x1F\x7F]/;
const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(.*)$/im;

/**
 * One UDP datagram: leading CRLFs (RFC 3261 section 7.5; RFC 5626 keep-alives) skipped, the body cut at
 * Content-Length. Throws SipFramingError for anything that is not one well-formed message within the limits.
 */
export function frameDatagram(data: string): SipFrame {
  const start = firstNonWhitespace(data);
  if (start < 0) throw new SipFramingError('datagram holds only whitespace');
  const end = data.indexOf('\r\n\r\n', start);
  if (end < 0) throw new SipFramingError('no blank line after the headers');
  const head = checkHead(data.slice(start, end));
  const body = data.slice(end + 4);
  const length = contentLength(head);
  if (length === undefined) return { head, body: limitBody(body) };
  // RFC 3261 section 18.3: a datagram shorter than its Content-Length is discarded; a longer one is cut.
  if (length > body.length)
    throw new SipFramingError(`Content-Length ${length} exceeds the ${body.length} bytes received`);
  return { head, body: body.slice(0, length) };
}

/**
 * A TCP/TLS byte stream: feed chunks, get complete messages. Content-Length is mandatory on streams (RFC 3261
 * section 18.3); a missing or bad one, or a limit exceeded, throws SipFramingError and the connection must go,
 * since the next message's start can no longer be found.
 */
export class StreamFramer {
  private buffer = '';
  /** Where the search for the blank line resumes, so each byte is scanned once however the stream is cut. */
  private scanned = 0;
  private pending: { head: string; length: number } | undefined;

  push(chunk: string): SipFrame[] {
    this.buffer += chunk;
    const frames: SipFrame[] = [];
    for (;;) {
      if (this.pending) {
        if (this.buffer.length < this.pending.length) return frames;
        frames.push({ head: this.pending.head, body: this.buffer.slice(0, this.pending.length) });
        this.buffer = this.buffer.slice(this.pending.length);
        this.pending = undefined;
        this.scanned = 0;
      }
      const start = firstNonWhitespace(this.buffer);
      if (start < 0) {
        this.buffer = '';
        this.scanned = 0;
        return frames;
      }
      if (start > 0) {
        this.buffer = this.buffer.slice(start);
        this.scanned = Math.max(0, this.scanned - start);
      }
      const end = this.buffer.indexOf('\r\n\r\n', Math.max(0, this.scanned - 3));
      if (end < 0) {
        if (this.buffer.length > MAX_HEADER_BYTES)
          throw new SipFramingError(`no end of headers within ${MAX_HEADER_BYTES} bytes`);
        this.scanned = this.buffer.length;
        return frames;
      }
      const head = checkHead(this.buffer.slice(0, end));
      const length = contentLength(head);
      if (length === undefined) throw new SipFramingError('a message on a stream without Content-Length');
      this.buffer = this.buffer.slice(end + 4);
      this.pending = { head, length };
      this.scanned = 0;
    }
  }
}

function firstNonWhitespace(text: string): number {
  return text.search(/\S/);
}

/**
 * RFC 3261 section 7.3.1: a line starting with whitespace continues the previous one and means one SP. Unfolded
 * here, so no header value can carry a CR or LF into a Request-URI or a header we send back; a bare CR or LF
 * anywhere else makes the message unreadable.
 */
function checkHead(raw: string): string {
  if (raw.length > MAX_HEADER_BYTES) throw new SipFramingError(`header block of ${raw.length} bytes`);
  if (CONTROL.test(raw)) throw new SipFramingError('control character in the header block');
  const head = raw.replace(/\r\n[ \t]+/g, ' ');
  if (/\r(?!\n)|(?<!\r)\n/.test(head)) throw new SipFramingError('bare CR or LF in the header block');
  let lineStart = 0;
  for (let index = head.indexOf('\n'); ; index = head.indexOf('\n', lineStart)) {
    const lineEnd = index < 0 ? head.length : index;
    if (lineEnd - lineStart > MAX_LINE_BYTES) throw new SipFramingError(`header line of ${lineEnd - lineStart} bytes`);
    if (index < 0) return head;
    lineStart = index + 1;
  }
}

/** undefined when absent; throws when it is not one decimal number within MAX_BODY_BYTES. */
function contentLength(head: string): number | undefined {
  const match = CONTENT_LENGTH.exec(head);
  if (!match) return undefined;
  const value = match[1]!.trim();
  if (!/^\d{1,9}$/.test(value)) throw new SipFramingError(`bad Content-Length ${JSON.stringify(value.slice(0, 20))}`);
  const length = Number(value);
  if (length > MAX_BODY_BYTES) throw new SipFramingError(`Content-Length ${length} over ${MAX_BODY_BYTES}`);
  return length;
}

function limitBody(body: string): string {
  if (body.length > MAX_BODY_BYTES) throw new SipFramingError(`body of ${body.length} bytes`);
  return body;
}
