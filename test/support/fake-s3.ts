/**
 * An S3 stand-in on 127.0.0.1 for the two requests the gateway makes (shared/aws/s3-bucket.ts), path-style:
 * PutObject signed in the Authorization header, GetObject by a pre-signed URL. Each request's SigV4 signature is
 * checked with an implementation of its own (AWS's specification, not the SDK's signer), so a request S3 would
 * refuse is refused here: 403 SignatureDoesNotMatch, or AccessDenied once a link has expired.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const encode = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class FakeS3 {
  readonly objects = new Map<string, Buffer>();
  readonly requests: ReceivedRequest[] = [];
  /** Answers given instead of handling the request, first in first out (e.g. a 500 to test a retry). */
  readonly failNext: number[] = [];
  private constructor(
    private readonly server: Server,
    readonly secretAccessKey: string,
    readonly region: string,
  ) {}

  static async start(options: { secretAccessKey?: string; region?: string } = {}): Promise<FakeS3> {
    let fake: FakeS3 | undefined;
    const server = createServer((request, response) => {
      void fake!.handle(request).then(({ status, body, headers }) => {
        response.writeHead(status, headers ?? {});
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeS3(server, options.secretAccessKey ?? 'test-secret', options.region ?? 'eu-west-1');
    return fake;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(
    request: IncomingMessage,
  ): Promise<{ status: number; body?: string | Buffer; headers?: Record<string, string> }> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'http://localhost');
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
    ) as Record<string, string>;
    this.requests.push({ method: request.method ?? '', path: url.pathname, headers, body: Buffer.concat(chunks) });
    const failure = this.failNext.shift();
    if (failure) return { status: failure, body: '<Error><Code>InternalError</Code></Error>' };
    const problem = this.checkSignature(request.method ?? '', url, headers);
    if (problem) return { status: 403, body: `<Error><Code>${problem}</Code></Error>` };
    if (request.method === 'PUT') {
      this.objects.set(url.pathname, Buffer.concat(chunks));
      return { status: 200 };
    }
    const object = this.objects.get(url.pathname);
    if (!object) return { status: 404, body: '<Error><Code>NoSuchKey</Code></Error>' };
    return { status: 200, body: object, headers: { 'content-type': 'video/mp4' } };
  }

  /** Undefined when the request is signed as S3 would check it; else S3's error code. */
  private checkSignature(method: string, url: URL, headers: Record<string, string>): string | undefined {
    const presigned = url.searchParams.get('X-Amz-Algorithm') !== null;
    const auth = presigned
      ? {
          credential: url.searchParams.get('X-Amz-Credential') ?? '',
          signedHeaders: url.searchParams.get('X-Amz-SignedHeaders') ?? '',
          signature: url.searchParams.get('X-Amz-Signature') ?? '',
          date: url.searchParams.get('X-Amz-Date') ?? '',
        }
      : (() => {
          const match = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(
            headers.authorization ?? '',
          );
          return {
            credential: match?.[1] ?? '',
            signedHeaders: match?.[2] ?? '',
            signature: match?.[3] ?? '',
            date: headers['x-amz-date'] ?? '',
          };
        })();
    const [, day, region, service, terminal] = auth.credential.split('/');
    if (!auth.signature || region !== this.region || service !== 's3' || terminal !== 'aws4_request')
      return 'AuthorizationHeaderMalformed';
    if (presigned) {
      const issued = Date.parse(auth.date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
      if (Date.now() > issued + Number(url.searchParams.get('X-Amz-Expires')) * 1000) return 'AccessDenied';
    }
    const query = [...url.searchParams.entries()]
      .filter(([name]) => name !== 'X-Amz-Signature')
      .map(([name, value]) => `${encode(name)}=${encode(value)}`)
      .sort()
      .join('&');
    const names = auth.signedHeaders.split(';');
    const canonical = [
      method,
      url.pathname,
      query,
      names.map((name) => `${name}:${(headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join(''),
      auth.signedHeaders,
      presigned ? 'UNSIGNED-PAYLOAD' : (headers['x-amz-content-sha256'] ?? ''),
    ].join('\n');
    const scope = `${day}/${region}/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', auth.date, scope, sha256(canonical)].join('\n');
    const key = ['s3', 'aws4_request'].reduce(
      (k, part) => hmac(k, part),
      hmac(hmac(`AWS4${this.secretAccessKey}`, day ?? ''), region),
    );
    return createHmac('sha256', key).update(toSign).digest('hex') === auth.signature
      ? undefined
      : 'SignatureDoesNotMatch';
  }
}
