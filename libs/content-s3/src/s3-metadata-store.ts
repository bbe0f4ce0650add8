import type { MetadataStore } from '@strata/content';
import { internal, invalidArgument } from '@strata/kit';
import { connectS3, type S3Connection, type S3ConnectionOptions } from './s3-connection.js';

const KEY = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
const LIST_PREFIX = /^(?:[A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]*$/;

function checkKey(key: string, pattern: RegExp): string {
  if (!pattern.test(key) || key.split('/').some((s) => s === '.' || s === '..')) {
    throw invalidArgument(`invalid metadata key ${JSON.stringify(key.slice(0, 200))}: use "/"-separated segments of A-Z a-z 0-9 . _ -`);
  }
  return key;
}

/** All bytes of a stream (an object's body). */
export async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A MetadataStore over an open connection: one JSON object per key under `<prefix>metadata/`. */
export function s3MetadataStore(conn: S3Connection): MetadataStore {
  const { bucket } = conn;
  const root = `${conn.prefix}metadata/`;
  const objectName = (key: string) => `${root}${checkKey(key, KEY)}`;
  return {
    async get<T>(key: string): Promise<T | undefined> {
      const name = objectName(key);
      const body = await conn.optional(`reading metadata ${key}`, async (c) => readAll(await c.getObject(bucket, name)));
      if (body === undefined) return undefined;
      try {
        return JSON.parse(body.toString('utf8')) as T;
      } catch (cause) {
        throw internal(`metadata ${key} in S3 bucket ${bucket} is not JSON`, { cause, fields: { key } });
      }
    },
    async put(key, value) {
      const name = objectName(key);
      const body = Buffer.from(JSON.stringify(value));
      await conn.call(`writing metadata ${key}`, (c) => c.putObject(bucket, name, body, body.length, { 'Content-Type': 'application/json' }));
    },
    async delete(key) {
      const name = objectName(key);
      await conn.optional(`deleting metadata ${key}`, (c) => c.removeObject(bucket, name));
    },
    async list(prefix) {
      checkKey(prefix, LIST_PREFIX);
      const keys: string[] = [];
      for await (const item of conn.list(`${root}${prefix}`, `listing metadata under ${prefix || '/'}`)) keys.push(item.name.slice(root.length));
      return keys;
    },
  };
}

/**
 * A MetadataStore (labels, leases) kept in S3: the value of key `k` is the
 * JSON object `<prefix>metadata/k` of the bucket, which is created when
 * missing. A put is one PUT, so readers see the old or the new value, never
 * a mix. Keys are `/`-separated segments of `[A-Za-z0-9._-]` (InvalidArgument
 * otherwise). Requests raise Unavailable when the endpoint does not answer,
 * PermissionDenied when it refuses the credentials, Internal for a value
 * that is not JSON or any other S3 failure.
 */
export async function createS3MetadataStore(options: S3ConnectionOptions): Promise<MetadataStore> {
  return s3MetadataStore(await connectS3(options));
}
