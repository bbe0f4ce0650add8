import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, readBlob, writeBlob } from '@strata/content/testing';
import { silentLogger } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { digestHex, digestOf } from '@strata/oci';
import { READ_CHUNK } from './blob-file.js';
import { createFsBlobProvider } from './fs-blob-provider.js';
import { createFsStore, fsLayout } from './fs-store.js';

describe('createFsBlobProvider', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const root = () => {
    const d = tempDir('fs-provider-');
    cleanups.push(() => d.remove());
    return d.path;
  };

  it('reads what a store on the same root committed, ranges included', async () => {
    const dir = root();
    const store = await createFsStore({ root: dir, logger: silentLogger() });
    cleanups.push(() => store.close());
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    const info = await writeBlob(store, data);
    const provider = createFsBlobProvider({ root: dir });
    expect((await readBlob(provider, info.digest)).equals(data)).toBe(true);
    const reader = await provider.read(info.digest, { offset: 1000, length: 24 });
    expect(reader.size).toBe(3000);
    const parts: Buffer[] = [];
    for await (const c of reader.chunks) parts.push(Buffer.from(c));
    expect(Buffer.concat(parts).equals(data.subarray(1000, 1024))).toBe(true);
    await expectError(provider.read(info.digest, { offset: 3001 }), 'OutOfRange', `cannot read ${info.digest} from offset 3001: the blob has 3000 bytes`);
  });

  it('reads released chunks into the same memory again, and fresh memory for chunks not released', async () => {
    const dir = root();
    const store = await createFsStore({ root: dir, logger: silentLogger() });
    cleanups.push(() => store.close());
    const data = Buffer.from(Array.from({ length: 6 * READ_CHUNK + 123 }, (_, i) => (i * 7) % 253));
    const info = await writeBlob(store, data);
    const provider = createFsBlobProvider({ root: dir });

    const released = await provider.read(info.digest);
    const seen = new Set<ArrayBufferLike>();
    const parts: Buffer[] = [];
    for await (const chunk of released.chunks) {
      seen.add(chunk.buffer);
      parts.push(Buffer.from(chunk));
      released.release?.(chunk);
      released.release?.(chunk);
    }
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(seen.size).toBeLessThanOrEqual(3);

    const kept = await provider.read(info.digest);
    const chunks: Uint8Array[] = [];
    for await (const chunk of kept.chunks) chunks.push(chunk);
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('is NotFound for an absent blob, an ingest in progress, and a symlink planted in the blobs directory', async () => {
    const dir = root();
    const { blobs } = fsLayout(dir);
    mkdirSync(blobs, { recursive: true });
    const provider = createFsBlobProvider({ root: dir });
    const absent = digestOf('absent');
    await expectError(provider.read(absent), 'NotFound', `blob ${absent} not found`);
    const outside = join(dir, 'secret');
    writeFileSync(outside, 'not a blob');
    const planted = digestOf('not a blob');
    symlinkSync(outside, join(blobs, digestHex(planted)));
    await expectError(provider.read(planted), 'NotFound', `blob ${planted} not found`);
    const missingRoot = createFsBlobProvider({ root: join(dir, 'nowhere') });
    await expectError(missingRoot.read(absent), 'NotFound', `blob ${absent} not found`);
  });

  it.each([
    ['a path escape', 'sha256:../../etc/passwd', 'invalid digest "sha256:../../etc/passwd": expected algorithm:hex, e.g. sha256:<64 hex>'],
    ['a short hex', `sha256:${'a'.repeat(63)}`, `invalid digest "sha256:${'a'.repeat(63)}": sha256 needs 64 hex characters, got 63`],
    ['upper-case hex', `sha256:${'A'.repeat(64)}`, `invalid digest "sha256:${'A'.repeat(64)}": hex must be lower-case`],
    ['another algorithm', `md5:${'a'.repeat(32)}`, `invalid digest "md5:${'a'.repeat(32)}": unsupported algorithm "md5" (only sha256)`],
    ['an absolute path', '/etc/passwd', 'invalid digest "/etc/passwd": expected algorithm:hex, e.g. sha256:<64 hex>'],
  ])('refuses %s with InvalidArgument before it becomes a path', async (_name, digest, message) => {
    const provider = createFsBlobProvider({ root: root() });
    await expectError(provider.read(digest as never), 'InvalidArgument', message);
  });
});
