import { describe, expect, it } from 'vitest';
import { isFailedPrecondition } from '@strata/kit';
import { digestOf } from '@strata/oci';
import { putBlob } from './blob-bytes.js';
import { createMemoryStore, readBlob } from './testing/index.js';

describe('putBlob', () => {
  it('stores bytes with labels, and on a second put only sets the labels', async () => {
    const store = createMemoryStore();
    const bytes = Buffer.from('{"schemaVersion":2}');
    const digest = digestOf(bytes);
    await putBlob(store, digest, bytes, { a: '1' }, 'manifest');
    expect(Buffer.from(await readBlob(store, digest)).toString()).toBe('{"schemaVersion":2}');
    await putBlob(store, digest, bytes, { b: '2' });
    expect((await store.info(digest)).labels).toEqual({ a: '1', b: '2' });
    expect(await store.listStatuses()).toEqual([]);
  });

  it('stores nothing when the bytes do not match the digest', async () => {
    const store = createMemoryStore();
    const digest = digestOf('other');
    const err = await putBlob(store, digest, Buffer.from('bytes'), {}).catch((e: unknown) => e);
    expect(isFailedPrecondition(err)).toBe(true);
    expect((err as Error).message).toContain(digest);
    await expect(store.info(digest)).rejects.toThrow(/not found/);
    expect(await store.listStatuses()).toEqual([]);
  });
});
