import { mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import type { TarEntry } from './tar-entry.js';
import { BLOCK_SIZE } from './tar-header.js';
import { createTarPacker, type TarPacker, type TarPackerOptions } from './tar-packer.js';
import { collectBytes, tarBytes } from './tar-writer.js';

const scratch = tempDir('strata-tar-packer-');
afterAll(() => scratch.remove());

/** Content that differs at every offset, so a byte in the wrong place shows. */
function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

let fileCount = 0;
function file(content: Uint8Array): string {
  const path = join(scratch.path, `f${fileCount++}`);
  writeFileSync(path, content);
  return path;
}

/** Descriptors of this process open on files under the scratch directory, once closing had up to a second to finish. */
async function openScratchFiles(): Promise<number> {
  const count = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(scratch.path);
      } catch {
        return false;
      }
    }).length;
  for (let i = 0; i < 50 && count() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return count();
}

async function failure(fn: () => Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

/** Entries of every kind, files of sizes around the block and chunk sizes, data given as bytes or as files. */
function mixedItems(): Array<{ entry: TarEntry; bytes?: Buffer; asFile: boolean }> {
  const sizes = [0, 1, 511, 512, 513, 1000, 1024, 4096, 4097, 70_000, 300_001];
  const items: Array<{ entry: TarEntry; bytes?: Buffer; asFile: boolean }> = [{ entry: { name: 'dir', type: 'directory', mode: 0o750, mtime: 1_700_000_000 }, asFile: false }];
  sizes.forEach((size, i) => {
    const bytes = pattern(size, i);
    items.push({ entry: { name: `dir/file-${size}`, type: 'file', size, uid: 1000 + i, mtime: 1_700_000_000 + i }, bytes, asFile: i % 3 !== 2 });
  });
  items.push({ entry: { name: `dir/${'long-name-'.repeat(20)}`, type: 'file', size: 3, xattrs: { 'user.a': 'b' } }, bytes: Buffer.from('pax'), asFile: true });
  items.push({ entry: { name: 'dir/link', type: 'symlink', linkname: 'file-1' }, asFile: false });
  items.push({ entry: { name: 'dir/hard', type: 'hardlink', linkname: 'dir/file-1' }, asFile: false });
  items.push({ entry: { name: '.wh.gone', type: 'file', mode: 0o644 }, asFile: false });
  return items;
}

/** Reads the packer's stream to the end; with recycle, each chunk is copied and handed back at once. */
async function drain(packer: TarPacker, recycle: boolean): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const chunk of packer.stream as AsyncIterable<Buffer>) {
    if (recycle) {
      parts.push(Buffer.from(chunk));
      packer.recycle(chunk);
    } else {
      parts.push(chunk);
    }
  }
  return Buffer.concat(parts);
}

describe('createTarPacker', () => {
  it.each<[string, TarPackerOptions, boolean]>([
    ['1 MiB chunks', {}, false],
    ['chunks smaller than a header', { chunkBytes: 300, chunksAhead: 2 }, false],
    ['odd chunks, one ahead, one call at a time', { chunkBytes: 1237, chunksAhead: 1, ioConcurrency: 1, openFiles: 1 }, true],
    ['block-sized chunks, recycled', { chunkBytes: BLOCK_SIZE, chunksAhead: 3 }, true],
    ['64 KiB chunks, recycled', { chunkBytes: 64 * 1024, chunksAhead: 4, ioConcurrency: 2 }, true],
  ])('writes the same bytes as the tar writer with %s', async (_case, options, recycle) => {
    const items = mixedItems().map((item) => ({ ...item, path: item.asFile && item.bytes !== undefined ? file(item.bytes) : undefined }));
    const expected = await tarBytes(items.map(({ entry, bytes }) => ({ entry, ...(bytes === undefined ? {} : { data: bytes }) })));
    const packer = createTarPacker(options);
    const packed = drain(packer, recycle);
    for (const { entry, bytes, path } of items) await packer.add(entry, path !== undefined ? { path } : bytes);
    await packer.finish();
    expect(Buffer.compare(Buffer.from(await packed), Buffer.from(expected))).toBe(0);
    expect(packer.bytesWritten).toBe(expected.length);
    expect(await openScratchFiles()).toBe(0);
  });

  it('reads files ahead while the reader waits, but no more than chunksAhead chunks', async () => {
    const packer = createTarPacker({ chunkBytes: 4096, chunksAhead: 3 });
    const paths = Array.from({ length: 20 }, (_, i) => file(pattern(3000, i)));
    let added = 0;
    const adding = (async () => {
      for (const [i, path] of paths.entries()) {
        await packer.add({ name: `f${i}`, type: 'file', size: 3000 }, { path });
        added++;
      }
      await packer.finish();
    })();
    await new Promise((r) => setTimeout(r, 50));
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThan(paths.length);
    expect(packer.bytesWritten).toBeLessThanOrEqual(3 * 4096);
    const archive = await collectBytes(packer.stream);
    await adding;
    expect(archive.length).toBe(20 * (BLOCK_SIZE + 3072) + 2 * BLOCK_SIZE);
  });

  it.each<[string, number, number, TarPackerOptions, string]>([
    ['shrank', 900, 1000, {}, 'tar entry "f": data ended after 900 of 1000 bytes'],
    ['shrank across chunks', 5000, 9000, { chunkBytes: 2048 }, 'tar entry "f": data ended after 5000 of 9000 bytes'],
    ['grew, padding in the chunk', 1001, 1000, {}, 'tar entry "f": data is longer than the declared size 1000'],
    ['grew, a whole number of blocks', 1025, 1024, {}, 'tar entry "f": data is longer than the declared size 1024'],
    ['grew, padding in the next chunk', 2049, 2048 - BLOCK_SIZE, { chunkBytes: 2048 }, 'tar entry "f": data is longer than the declared size 1536'],
  ])('fails when a file %s since its size was taken', async (_case, actual, declared, options, message) => {
    const packer = createTarPacker(options);
    const packed = collectBytes(packer.stream);
    await packer.add({ name: 'f', type: 'file', size: declared }, { path: file(pattern(actual, 1)) });
    expect(await failure(() => packed)).toEqual({ kind: 'InvalidArgument', message });
    expect(await failure(() => packer.add({ name: 'g', type: 'directory' }))).toEqual({ kind: 'InvalidArgument', message });
    expect(await failure(() => packer.finish())).toEqual({ kind: 'InvalidArgument', message });
    expect(await openScratchFiles()).toBe(0);
  });

  it.each([
    ['a missing file', () => join(scratch.path, 'missing'), 'ENOENT'],
    ['a symlink (never followed)', () => {
      const link = join(scratch.path, `link${fileCount++}`);
      symlinkSync(file(Buffer.from('target')), link);
      return link;
    }, 'ELOOP'],
    ['a directory', () => {
      const dir = join(scratch.path, `dir${fileCount++}`);
      mkdirSync(dir);
      return dir;
    }, 'EISDIR'],
  ])('fails with the error of opening or reading %s', async (_case, path, code) => {
    const packer = createTarPacker();
    const packed = collectBytes(packer.stream);
    const finished = (async () => {
      await packer.add({ name: 'f', type: 'file', size: 6 }, { path: path() });
      await packer.finish();
    })();
    const error = await packed.then(
      () => undefined,
      (err: unknown) => err as NodeJS.ErrnoException,
    );
    expect(error?.code).toBe(code);
    await expect(finished).rejects.toBe(error);
    expect(await openScratchFiles()).toBe(0);
  });

  it('fails pending adds with Canceled when the reader destroys the stream, and closes its files', async () => {
    const packer = createTarPacker({ chunkBytes: 4096, chunksAhead: 2 });
    const path = file(pattern(4000, 3));
    const adding = (async () => {
      for (let i = 0; ; i++) await packer.add({ name: `f${i}`, type: 'file', size: 4000 }, { path });
    })();
    await new Promise((r) => setTimeout(r, 20));
    packer.stream.destroy();
    expect(await failure(() => adding)).toEqual({ kind: 'Canceled', message: 'tar stream was closed by its reader' });
    expect(await openScratchFiles()).toBe(0);
  });

  it.each<[string, TarEntry, Uint8Array | { path: string } | undefined, string]>([
    ['an empty name', { name: '', type: 'file' }, undefined, 'tar entry "": the name is empty'],
    ['size differing from the bytes', { name: 'f', type: 'file', size: 2 }, Buffer.from('abc'), 'tar entry "f": size 2 differs from the 3 bytes given'],
    ['a declared size without data', { name: 'f', type: 'file', size: 2 }, undefined, 'tar entry "f": declares 2 bytes but no data was given'],
    ['a file without its size', { name: 'f', type: 'file' }, { path: '/nonexistent' }, 'tar entry "f": file data needs entry.size'],
  ])('refuses %s before writing, and stays usable', async (_case, entry, data, message) => {
    const packer = createTarPacker();
    const packed = collectBytes(packer.stream);
    expect(await failure(() => packer.add(entry, data))).toEqual({ kind: 'InvalidArgument', message });
    await packer.add({ name: 'ok', type: 'file' }, Buffer.from('x'));
    await packer.finish();
    expect((await packed).length).toBe(4 * BLOCK_SIZE);
    expect(await failure(() => packer.add({ name: 'late', type: 'directory' }))).toEqual({
      kind: 'FailedPrecondition',
      message: 'tar packer is finished; create a new one',
    });
  });
});
