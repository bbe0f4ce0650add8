import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { failedPrecondition, internal, invalidArgument, isStrataError, notFound, StrataError, unavailable, type Logger } from '@strata/kit';
import { Client } from 'minio';

/** Where the objects of a content store live, and how to reach them. */
export interface S3ConnectionOptions {
  /** `http://host:port` or `https://host[:port]`: MinIO, s3rver, AWS S3 or any S3-compatible endpoint. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Region of the bucket; `us-east-1` by default. */
  region?: string;
  /** Bucket holding the store; created when missing. */
  bucket: string;
  /**
   * Prefix of every key the store writes, so several stores can share a
   * bucket; `/` is appended when missing. Empty (the bucket root) by default.
   */
  prefix?: string;
  logger: Logger;
}

/** An object listed under a prefix. */
export interface S3Object {
  name: string;
  size: number;
  lastModified: Date;
}

/** A client bound to one bucket and key prefix, shared by a store and its metadata. */
export interface S3Connection {
  readonly client: Client;
  readonly bucket: string;
  /** Normalised: empty or ending in `/`. */
  readonly prefix: string;
  readonly endpoint: string;
  readonly logger: Logger;
  /**
   * Runs one S3 request, `what` saying what it is for. Throttling, 5xx
   * answers and reset connections are retried a few times with backoff;
   * other failures, and the last one, are raised as translateS3Error says.
   */
  call<T>(what: string, request: (client: Client) => Promise<T>): Promise<T>;
  /** Like call, but undefined when the object or upload does not exist. */
  optional<T>(what: string, request: (client: Client) => Promise<T>): Promise<T | undefined>;
  /** Objects whose names start with prefix, in name order, a page of requests at a time. */
  list(prefix: string, what: string): AsyncIterable<S3Object>;
  /** Closes idle sockets; requests after this fail. */
  close(): void;
}

/** Largest part (and single PUT) S3 accepts. With it as the client's part size, `putObject` of a buffer is always one PUT. */
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** Smallest part S3 accepts, except the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

const PREFIX = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)*$/;
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);
const BUSY_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'XMinioServerNotInitialized']);
const RETRIED_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const RETRIES = 3;
const RETRY_DELAY_MS = 50;
const LIST_PAGE = 1000;
const DENIED_CODES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AllAccessDisabled', 'ExpiredToken']);

function normalisePrefix(prefix: string): string {
  const p = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (!PREFIX.test(p) || p.split('/').some((s) => s === '.' || s === '..')) {
    throw invalidArgument(
      `invalid S3 key prefix ${JSON.stringify(prefix.slice(0, 200))}: use path segments of A-Z a-z 0-9 . _ - separated by "/", without "." or ".." segments`,
    );
  }
  return p;
}

function parseEndpoint(endpoint: string): { host: string; port: number; useSSL: boolean; origin: string } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (cause) {
    throw invalidArgument(`invalid S3 endpoint ${JSON.stringify(endpoint)}: expected a URL such as http://127.0.0.1:9000`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidArgument(`invalid S3 endpoint ${JSON.stringify(endpoint)}: the scheme must be http or https`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '' || url.password !== '') {
    throw invalidArgument(
      `invalid S3 endpoint ${JSON.stringify(endpoint)}: give only scheme, host and port; the bucket and credentials are separate settings`,
    );
  }
  const useSSL = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port), useSSL, origin: url.origin };
}

/**
 * The error kind of a failed S3 request, as a Strata error with a sentence
 * saying what failed (`what`, e.g. "reading blob sha256:…"). Strata errors
 * pass through. Unreachable endpoints and throttling become Unavailable,
 * refused credentials PermissionDenied, missing objects NotFound, anything
 * else Internal (the cause is kept for the log).
 */
export function translateS3Error(conn: Pick<S3Connection, 'endpoint' | 'bucket'>, what: string, err: unknown): StrataError {
  if (isStrataError(err)) return err;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const causeCode = typeof (e?.cause as { code?: unknown })?.code === 'string' ? String((e.cause as { code: string }).code) : '';
  const fields = { endpoint: conn.endpoint, bucket: conn.bucket, s3Code: code || causeCode || undefined };
  if (CONNECTION_CODES.has(code) || CONNECTION_CODES.has(causeCode) || /socket hang up/i.test(String(e?.message ?? ''))) {
    return unavailable(
      `S3 endpoint ${conn.endpoint} is unreachable (${code || causeCode || 'connection closed'}) while ${what}: check that the object store runs and that the endpoint setting is right`,
      { cause: err, fields },
    );
  }
  const status = retryableStatus(err);
  if (BUSY_CODES.has(code) || status !== undefined) {
    return unavailable(`S3 endpoint ${conn.endpoint} is busy or failing (${code || `HTTP ${status}`}) while ${what}: retry later`, {
      cause: err,
      fields,
    });
  }
  if (DENIED_CODES.has(code)) {
    return new StrataError(
      'PermissionDenied',
      `S3 endpoint ${conn.endpoint} refused the credentials for bucket ${conn.bucket} (${code}) while ${what}: check the access key, secret key and bucket policy`,
      { cause: err, fields },
    );
  }
  if (code === 'NoSuchBucket') {
    return failedPrecondition(
      `S3 bucket ${conn.bucket} does not exist at ${conn.endpoint} while ${what}: it was deleted after the store opened; restart the store to create it again`,
      { cause: err, fields },
    );
  }
  if (isS3Missing(err)) return notFound(`not found in S3 bucket ${conn.bucket} while ${what}`, { cause: err, fields });
  return internal(`S3 request failed while ${what}`, { cause: err, fields });
}

function isS3Missing(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchUpload';
}

/**
 * The status of an answer minio gave up on: it raises a plain Error
 * "Request failed after N retries: Error: Retryable HTTP status: 503" for
 * 408, 429 and 5xx answers, without their S3 error code.
 */
function retryableStatus(err: unknown): string | undefined {
  return /Retryable HTTP status: (\d{3})/.exec(String((err as { message?: unknown })?.message ?? ''))?.[1];
}

function isTransient(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  return (
    BUSY_CODES.has(code) ||
    RETRIED_CONNECTION_CODES.has(code) ||
    retryableStatus(err) !== undefined ||
    /socket hang up/i.test(String(e?.message ?? ''))
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Builds a minio client for options.endpoint and makes sure the bucket
 * exists, creating it when missing. InvalidArgument for a malformed
 * endpoint, prefix or bucket name; Unavailable when the endpoint does not
 * answer; PermissionDenied when it refuses the credentials.
 */
export async function connectS3(options: S3ConnectionOptions): Promise<S3Connection> {
  const { host, port, useSSL, origin: endpoint } = parseEndpoint(options.endpoint);
  const prefix = normalisePrefix(options.prefix ?? '');
  const { bucket } = options;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw invalidArgument(
      `invalid S3 bucket name ${JSON.stringify(bucket.slice(0, 100))}: use 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit`,
    );
  }
  const region = options.region ?? 'us-east-1';
  const agent = useSSL ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  let client: Client;
  try {
    client = new Client({
      endPoint: host,
      port,
      useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region,
      transportAgent: agent,
      partSize: MAX_PART_SIZE,
      retryOptions: { disableRetry: true },
    });
  } catch (cause) {
    agent.destroy();
    throw invalidArgument(`invalid S3 settings for ${options.endpoint}: ${(cause as Error).message}`, { cause });
  }
  const logger = options.logger.child({ component: 'content-s3', bucket });
  const where = { endpoint, bucket };

  const call = async <T>(what: string, request: (client: Client) => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(client);
      } catch (err) {
        if (attempt >= RETRIES || !isTransient(err)) throw translateS3Error(where, what, err);
        const delay = RETRY_DELAY_MS * 2 ** attempt * (1 + Math.random());
        logger.warn({ what, attempt: attempt + 1, delayMs: Math.round(delay), err: (err as Error).message }, 'retrying S3 request');
        await sleep(delay);
      }
    }
  };

  const conn: S3Connection = {
    client,
    bucket,
    prefix,
    endpoint,
    logger,
    call,
    async optional(what, request) {
      try {
        return await call(what, request);
      } catch (err) {
        if (isStrataError(err) && isS3Missing(err.cause)) return undefined;
        throw err;
      }
    },
    async *list(listPrefix, what) {
      let token = '';
      do {
        const page = await call(what, (c) => c.listObjectsV2Query(bucket, listPrefix, token, '', LIST_PAGE, ''));
        for (const item of page.objects) {
          if (item.name !== undefined) yield { name: item.name, size: item.size, lastModified: item.lastModified };
        }
        token = page.isTruncated ? page.nextContinuationToken : '';
      } while (token !== '');
    },
    close: () => agent.destroy(),
  };
  try {
    if (!(await call(`opening bucket ${bucket}`, (c) => c.bucketExists(bucket)))) {
      try {
        await client.makeBucket(bucket, region);
        logger.info('created bucket');
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw translateS3Error(where, `creating bucket ${bucket}`, err);
      }
    }
  } catch (err) {
    agent.destroy();
    throw err;
  }
  return conn;
}
