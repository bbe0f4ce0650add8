import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { canceled, failedPrecondition, notFound, pause, unavailable } from '@strata/kit';
import { parseDigest, type Digest } from '@strata/oci';
import { validateRef, type FollowedBlob, type IngestFollower } from '@strata/content';
import { READ_CHUNK, wholeNumber } from './blob-file.js';
import { describeWait, MAX_POLL_MS, readGrowingFile } from './growing-file.js';
import { errnoOf, ioFailure } from './fs-io.js';
import { IMPORT_REF_PREFIX, validateImportName } from './fs-store.js';

/** What createFsIngestFollower reads, and how long it waits. */
export interface FsIngestFollowerOptions {
  /** Root of a filesystem content store (createFsStore's root), written by another process or this one. */
  root: string;
  /** How long an ingest may make no progress (no new bytes, no commit) before a follower gives up (Unavailable); 60 s by default. */
  stallMs?: number;
}

/**
 * An IngestFollower over the ingests of a filesystem content store on this
 * host (see createFsStore's layout): it opens the ingest's `data` file
 * read-only and reads it as it grows, polling (1–20 ms) when it has read
 * all there is. The store only ever appends to an ingest's file (a
 * truncate or a restart replaces it with a new file), and commits an
 * ingest by linking that very file, once verified, as
 * `blobs/sha256/<hex>`; so confirm() holds the bytes read for the blob's
 * exactly when the blob's file is the file followed (same device and
 * inode) with the expected size. A followed file that lost its last link
 * was discarded (a mismatch at commit, an abort, a truncate). An import
 * in progress, listed as an ingest with ref `imports/<name>` (see
 * IMPORT_REF_PREFIX), is followed the same way in the imports directory:
 * the store links that very file as the blob, and its writer removes it
 * to give up. It creates and writes nothing.
 */
export function createFsIngestFollower(options: FsIngestFollowerOptions): IngestFollower {
  const blobs = join(options.root, 'blobs', 'sha256');
  const ingests = join(options.root, 'ingest');
  const imports = join(options.root, 'imports');
  const stallMs = options.stallMs ?? 60_000;

  return {
    async follow(refText, digestText, sizeValue, followOptions = {}) {
      const ref = validateRef(refText);
      const digest = parseDigest(digestText);
      const size = wholeNumber(sizeValue, 'size');
      // An import in progress is followed in the imports directory: the store links that very file as the blob.
      const dataPath = ref.startsWith(IMPORT_REF_PREFIX)
        ? join(imports, validateImportName(ref.slice(IMPORT_REF_PREFIX.length)))
        : join(ingests, createHash('sha256').update(ref).digest('hex'), 'data');
      let fh: FileHandle;
      try {
        fh = await open(dataPath, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') throw notFound(`no ingest with ref ${ref}`, { fields: { ref } });
        throw ioFailure(err, `cannot follow ingest ${ref}`);
      }
      return followFile(fh, { ref, digest, size, blobPath: join(blobs, digest.slice('sha256:'.length)), stallMs, signal: followOptions.signal });
    },
  };
}

interface Followed {
  ref: string;
  digest: Digest;
  size: number;
  blobPath: string;
  stallMs: number;
  signal: AbortSignal | undefined;
}

function followFile(fh: FileHandle, f: Followed): FollowedBlob {
  const { ref, digest, size } = f;
  let closed = false;
  let closing: Promise<void> | undefined;
  const close = () => {
    closed = true;
    closing ??= fh.close().catch(() => undefined);
    return closing;
  };
  const discarded = (position: number) =>
    failedPrecondition(`the ingest ${ref} of blob ${digest} was discarded or rewritten after ${position} bytes: its bytes are not the blob's`, {
      fields: { ref, digest },
    });
  const canceledRead = () => canceled(`reading the ingest ${ref} of blob ${digest} was canceled`, { fields: { ref, digest } });
  const stalled = (what: string) =>
    unavailable(`the ingest ${ref} of blob ${digest} ${what} for ${describeWait(f.stallMs)}; pull it again`, {
      fields: { ref, digest },
    });

  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of readGrowingFile(fh, {
        size,
        stallMs: f.stallMs,
        signal: f.signal,
        buffer: (length) => Buffer.allocUnsafeSlow(Math.min(READ_CHUNK, length)),
        discarded,
        stalled: (position) => stalled(`had no new bytes after ${position} of ${size}`),
        canceled: canceledRead,
      })) {
        if (closed) return;
        yield chunk;
      }
    } catch (err) {
      await close();
      throw err;
    }
  }

  return {
    size,
    chunks: chunks(),
    close,
    async confirm(signal) {
      try {
        const followed = await fh.stat();
        let seen = followed.size;
        let progressAt = Date.now();
        for (let delay = 1; ; delay = Math.min(delay * 2, MAX_POLL_MS)) {
          if (signal?.aborted === true) throw canceledRead();
          const blob = await lstat(f.blobPath).catch((err: unknown) => {
            if (errnoOf(err) === 'ENOENT') return undefined;
            throw ioFailure(err, `cannot look at blob ${digest}`);
          });
          if (blob !== undefined) {
            if (blob.isFile() && blob.dev === followed.dev && blob.ino === followed.ino && blob.size === size) return;
            throw failedPrecondition(`blob ${digest} was committed, but not from the bytes of ingest ${ref} that were read; read the blob itself`, {
              fields: { ref, digest },
            });
          }
          // Looked at after the blob: a commit links the blob before it removes the ingest.
          const now = await fh.stat();
          if (now.nlink === 0) throw discarded(now.size);
          if (now.size !== seen) {
            seen = now.size;
            progressAt = Date.now();
          } else if (Date.now() - progressAt > f.stallMs) {
            throw stalled(`was not committed after ${now.size} bytes`);
          }
          await pause(delay, signal);
        }
      } finally {
        await close();
      }
    },
  };
}
