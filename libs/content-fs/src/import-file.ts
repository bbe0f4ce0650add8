import { lstat, type FileHandle } from 'node:fs/promises';
import { canceled, failedPrecondition, invalidArgument, unavailable } from '@strata/kit';
import type { Digest } from '@strata/oci';
import { READ_CHUNK } from './blob-file.js';
import { ioFailure } from './fs-io.js';
import { INLINE_HASH_BYTES, SYNC_BYTES } from './fs-writer.js';
import { describeWait, readGrowingFile } from './growing-file.js';
import { inlineHashStream, type HashPool } from './hash-pool.js';

/** Read buffers of an import: the one read into while the worker hashes the other in place (more gained nothing on a 105 MB layer). */
const RING = 2;

/** What {@link verifyImportFile} checks. */
export interface ImportCheck {
  /** The file's name in the imports directory (for messages) and its path. */
  file: string;
  path: string;
  expected: Digest;
  total: number;
  /** Its writer may still be appending: read it as it grows until total bytes. */
  growing: boolean;
  /** How long a growing file may gain no bytes before the import fails (Unavailable). */
  stallMs: number;
  hashes: HashPool;
}

/**
 * Checks that the import file open as fh holds exactly total bytes whose
 * digest is expected, and makes it durable: it is read in READ_CHUNK
 * pieces into shared buffers that a hashing worker reads in place (inline
 * for up to INLINE_HASH_BYTES), a growing one as its writer appends (see
 * readGrowingFile), synced in the background every SYNC_BYTES and fsynced
 * at the end, with its times set to now. InvalidArgument for something
 * that is not a regular file; FailedPrecondition for another size or
 * digest, for a file its writer removed, or one its name no longer names;
 * Unavailable for a growing file that stalled.
 */
export async function verifyImportFile(fh: FileHandle, check: ImportCheck): Promise<void> {
  const { file, path, expected, total } = check;
  const fields = { name: file };
  const before = await fh.stat();
  if (!before.isFile()) throw invalidArgument(`cannot import ${file}: it is not a regular file`, { fields });
  const sizeDiffers = (size: number) => failedPrecondition(`import of ${file} failed: it has ${size} bytes, expected ${total}`, { fields: { ...fields, size } });
  if (check.growing ? before.size > total : before.size !== total) throw sizeDiffers(before.size);

  const hash = total <= INLINE_HASH_BYTES ? inlineHashStream() : check.hashes.stream();
  const ring = Array.from({ length: RING }, () => ({ buffer: Buffer.from(new SharedArrayBuffer(Math.min(READ_CHUNK, Math.max(total, 1)))), hashed: Promise.resolve() }));
  let slot = 0;
  let sinceSync = 0;
  let syncing: Promise<void> | undefined;
  let syncFailure: unknown;
  let digest: Digest;
  try {
    const chunks = readGrowingFile(fh, {
      size: total,
      stallMs: check.stallMs,
      buffer: () => ring[slot]!.buffer,
      discarded: (position) => failedPrecondition(`import of ${file} failed: its writer removed or cut it after ${position} of ${total} bytes`, { fields }),
      stalled: (position) =>
        unavailable(`import of ${file} failed: it gained no bytes for ${describeWait(check.stallMs)} after ${position} of ${total}`, { fields }),
      canceled: () => canceled(`import of ${file} was canceled`, { fields }),
    });
    for await (const chunk of chunks) {
      const hashed = hash.update(chunk);
      // Awaited below or in finally; a failure meanwhile is not an unhandled rejection.
      hashed.catch(() => undefined);
      ring[slot]!.hashed = hashed;
      slot = (slot + 1) % RING;
      // The next read goes into this slot's buffer: the worker must be done with it.
      await ring[slot]!.hashed;
      sinceSync += chunk.length;
      if (sinceSync >= SYNC_BYTES && syncing === undefined) {
        sinceSync = 0;
        syncing = fh.datasync().then(
          () => (syncing = undefined),
          (err: unknown) => {
            syncing = undefined;
            syncFailure ??= err;
          },
        );
      }
    }
    await Promise.all(ring.map((r) => r.hashed));
    digest = await hash.digest();
  } finally {
    // Also after a failure: no update is left running (its failure unheard) once the stream is dropped.
    await Promise.allSettled(ring.map((r) => r.hashed));
    await syncing;
    hash.dispose();
  }
  if (syncFailure !== undefined) throw ioFailure(syncFailure, `cannot import ${file}`);
  const now = await fh.stat();
  const named = await lstat(path);
  if (named.ino !== before.ino || named.dev !== before.dev) throw failedPrecondition(`import of ${file} failed: the file was replaced while it was hashed`, { fields });
  if (now.size !== total) throw sizeDiffers(now.size);
  if (digest !== expected) throw failedPrecondition(`import of ${file} failed: got digest ${digest}, expected ${expected}`, { fields: { ...fields, digest } });
  const time = new Date();
  await fh.utimes(time, time);
  await fh.sync();
}
