import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tempDir } from '@strata/kit/testing';

/** An S3 endpoint for tests: s3rver in this process, on its own port and directory. */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  port: number;
  accessKey: 'S3RVER';
  secretKey: 'S3RVER';
  region: string;
  /** Where s3rver keeps buckets and objects (removed by stop). */
  directory: string;
  /** Ids of the multipart uploads of bucket that are neither completed nor aborted. */
  multipartUploads(bucket: string): string[];
  /** Closes the server and removes its directory. */
  stop(): Promise<void>;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
  req: IncomingMessage;
  res: ServerResponse;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface S3rverServer {
  middleware: KoaMiddleware[];
  store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string };
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverServer;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/**
 * Starts s3rver on a free port of 127.0.0.1 with a fresh temp directory.
 *
 * s3rver lacks AbortMultipartUpload (it answers 405); this adds it, without
 * checking the signature, so that stores can clean up after themselves as
 * they do on S3 and MinIO. It also lacks ListMultipartUploads (`?uploads`),
 * which minio's putObject uses above 64 MiB: stores drive multipart uploads
 * themselves.
 */
export async function startS3rver(): Promise<S3rverHandle> {
  const dir = tempDir('strata-s3rver-');
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir.path, configureBuckets: [] });
  const uploadsDir = (bucket: string) => server.store.getResourcePath(bucket, undefined, 'uploads');
  const abortMultipartUpload: KoaMiddleware = async (ctx, next) => {
    const match = /^\/([a-z0-9][a-z0-9-]*[a-z0-9])\/.+$/.exec(ctx.path);
    const uploadId = ctx.query.uploadId;
    if (ctx.method !== 'DELETE' || match === null || typeof uploadId !== 'string') return next();
    const upload = `${uploadsDir(match[1]!)}/${uploadId}`;
    if (!/^[a-f0-9]{32}$/.test(uploadId) || !existsSync(upload)) {
      ctx.status = 404;
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
      return;
    }
    await rm(upload, { recursive: true, force: true });
    ctx.status = 204;
  };
  server.middleware.unshift(abortMultipartUpload);
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (err) {
    dir.remove();
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    region: 'us-east-1',
    directory: dir.path,
    multipartUploads: (bucket) => (existsSync(uploadsDir(bucket)) ? readdirSync(uploadsDir(bucket)) : []),
    async stop() {
      try {
        await server.close();
      } finally {
        dir.remove();
      }
    },
  };
}
