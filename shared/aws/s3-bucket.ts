/**
 * The two S3 requests the gateway makes, on the stack's recordings bucket: the task's PutObject of a closed
 * recording, streamed from its file, and the API's pre-signed GetObject link. Signed by the SDK's own SigV4
 * signer (@smithy/signature-v4), sent with fetch: the package of the S3 client is not among this project's
 * dependencies (README, "Recordings"), and these two requests are all of S3 it needs.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';
import { withBackoff } from './aws-retry.ts';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3BucketOptions {
  bucket: string;
  region: string;
  /** The SDK's provider chain in the entry points (@aws-sdk/credential-provider-node), fixed ones in tests. */
  credentials: () => Promise<AwsCredentials>;
  /**
   * An S3-compatible endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, as the SDK reads them: LocalStack, tests),
   * addressed path-style; absent, the bucket's own virtual-hosted AWS endpoint.
   */
  endpoint?: string;
  /** Tries of a PutObject that S3 answered 5xx or 429, or that did not reach it. Default 3. */
  attempts?: number;
}

export class S3RequestError extends Error {
  override name = 'S3RequestError';
  readonly $metadata: { httpStatusCode?: number };
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.$metadata = { httpStatusCode: status };
  }

  /** Read by aws-retry's isRetryableAwsError: S3's 500 and 503 are to be retried, and a request that never got there. */
  get $retryable(): { throttling: boolean } | undefined {
    return this.status === undefined || this.status >= 500 || this.status === 429
      ? { throttling: this.status === 503 || this.status === 429 }
      : undefined;
  }
}

/** SHA-256 and HMAC-SHA-256 from node:crypto, in the shape the signer takes (its own packages are not hoisted). */
class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** RFC 3986 unreserved characters stay, everything else is %XX: what SigV4's canonical query expects. */
const encode = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class S3Bucket {
  private readonly signer: SignatureV4;

  constructor(private readonly options: S3BucketOptions) {
    this.signer = new SignatureV4({
      service: 's3',
      region: options.region,
      credentials: options.credentials,
      sha256: NodeSha256,
      // S3 signs the path as sent, without the second encoding other services expect.
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  /**
   * PutObject of the file at `path`, streamed (the body is not hashed: UNSIGNED-PAYLOAD, over TLS on AWS).
   * Encrypted at rest by the bucket's default encryption. Throws S3RequestError.
   */
  async put(key: string, path: string, contentType: string): Promise<void> {
    const { size } = await stat(path);
    await withBackoff(
      async () => {
        const request = await this.signer.sign(
          this.request('PUT', key, {
            'content-type': contentType,
            'content-length': String(size),
            'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
          }),
        );
        let response: Response;
        try {
          response = await fetch(this.url(request), {
            method: 'PUT',
            headers: request.headers,
            body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>,
            duplex: 'half',
          } as RequestInit);
        } catch (error) {
          throw new S3RequestError(`PutObject ${key} did not reach S3: ${(error as Error).message}`, undefined, {
            cause: error,
          });
        }
        const answer = await response.text();
        if (!response.ok)
          throw new S3RequestError(`PutObject ${key}: ${response.status} ${s3Code(answer)}`, response.status);
      },
      { attempts: this.options.attempts ?? 3, baseDelayMs: 500 },
    );
  }

  /** A GetObject link valid for `expiresInSeconds`, signed here without a request to S3. */
  async presignGet(
    key: string,
    expiresInSeconds: number,
    now = new Date(),
  ): Promise<{ url: string; expiresAt: string }> {
    // A pre-signed request's body is never hashed: S3 checks the signature over UNSIGNED-PAYLOAD. The header
    // says so to the signer only; neither a query parameter nor a signed header, the link stays a plain GET.
    const payload = 'x-amz-content-sha256';
    const signed = await this.signer.presign(this.request('GET', key, { [payload]: 'UNSIGNED-PAYLOAD' }), {
      expiresIn: expiresInSeconds,
      signingDate: now,
      unhoistableHeaders: new Set([payload]),
      unsignableHeaders: new Set([payload]),
    });
    return { url: this.url(signed), expiresAt: new Date(now.getTime() + expiresInSeconds * 1000).toISOString() };
  }

  private request(method: 'GET' | 'PUT', key: string, headers: Record<string, string>) {
    const { bucket, region, endpoint } = this.options;
    const base = new URL(endpoint ?? `https://${bucket}.s3.${region}.amazonaws.com`);
    const objectPath = key.split('/').map(encode).join('/');
    return {
      method,
      protocol: base.protocol,
      hostname: base.hostname,
      ...(base.port ? { port: Number(base.port) } : {}),
      path: endpoint ? `${base.pathname.replace(/\/$/, '')}/${bucket}/${objectPath}` : `/${objectPath}`,
      query: {},
      headers: { host: base.host, ...headers },
    };
  }

  private url(request: {
    protocol: string;
    hostname: string;
    port?: number;
    path: string;
    query?: Record<string, string | string[] | null>;
  }): string {
    const query = Object.entries(request.query ?? {})
      .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((item) => [name, item ?? ''] as const))
      .map(([name, value]) => `${encode(name)}=${encode(value)}`)
      .join('&');
    const port = request.port ? `:${request.port}` : '';
    return `${request.protocol}//${request.hostname}${port}${request.path}${query ? `?${query}` : ''}`;
  }
}

/** S3's error answer is XML: its <Code> is the part worth a log line. */
function s3Code(answer: string): string {
  return /<Code>([^<]{1,100})<\/Code>/.exec(answer)?.[1] ?? 'no error code';
}
