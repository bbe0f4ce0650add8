import { randomBytes } from 'node:crypto';
import { digestOf, type Digest } from '@strata/oci';
import type { Ingester } from '../store.js';
import type { Info, Labels } from '../types.js';

/** n random bytes (for blobs whose digests must not collide between tests). */
export function randomBytesOf(n: number): Buffer {
  return randomBytes(n);
}

/** How writeBlob opens its writer and commits. */
export interface WriteBlobOptions {
  /** Ingest ref; a random one by default. */
  ref?: string;
  /** Labels attached at commit. */
  labels?: Labels;
  /** Expected digest announced when opening; the data's own digest by default, none when false. */
  expected?: Digest | false;
  /** Total announced when opening; the data's length by default, none when false. */
  total?: number | false;
  /** Sizes of the write calls, cycled; one write of everything by default. */
  chunks?: readonly number[];
}

/**
 * Writes data through one writer and commits it. Errors of the store pass
 * through unchanged; the writer is closed on every path.
 */
export async function writeBlob(store: Ingester, data: Uint8Array, options: WriteBlobOptions = {}): Promise<Info> {
  const ref = options.ref ?? `test-${randomBytes(6).toString('hex')}`;
  const expected = options.expected === undefined ? digestOf(data) : options.expected;
  const total = options.total === undefined ? data.length : options.total;
  const writer = await store.writer({
    ref,
    ...(expected === false ? {} : { expected }),
    ...(total === false ? {} : { total }),
  });
  try {
    const sizes = options.chunks !== undefined && options.chunks.length > 0 ? options.chunks : [Math.max(data.length, 1)];
    let pos = 0;
    for (let i = 0; pos < data.length; i++) {
      const n = Math.max(1, sizes[i % sizes.length] ?? 1);
      await writer.write(data.subarray(pos, pos + n));
      pos += n;
    }
    return await writer.commit(options.labels === undefined ? {} : { labels: options.labels });
  } finally {
    await writer.close();
  }
}

