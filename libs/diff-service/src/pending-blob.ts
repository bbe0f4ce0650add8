import type { BlobReader, IngestFollower, Store } from '@strata/content';
import { canceled, isNotFound, pause, unavailable } from '@strata/kit';
import type { Digest } from '@strata/oci';

/**
 * A blob opened by {@link openPendingBlob}: its bytes, and what must hold
 * before anything made of them is kept.
 */
export interface PendingBlob {
  size: number;
  /** The bytes in order; iterate once. */
  chunks: AsyncIterable<Uint8Array>;
  /**
   * Resolves at once for a committed blob; for one read while its ingest
   * wrote it, once the store committed it from exactly the bytes read
   * (FollowedBlob.confirm: FailedPrecondition when it did not). Releases the
   * reader.
   */
  confirm(signal?: AbortSignal): Promise<void>;
  /** Releases the reader; safe to call more than once, and after confirm. */
  close(): Promise<void>;
}

/** How {@link openPendingBlob} waits for a blob that is still being written. */
export interface PendingBlobOptions {
  /** Reads ingests as they are written (a layer-store on this host); without it, a blob being written is read once committed. */
  follower?: IngestFollower;
  /** The size the blob must have: needed to follow its ingest (without it, the blob is read once committed). */
  size?: number;
  /** How long to wait for an ingest's commit without a follower; 60 s by default. */
  waitMs?: number;
  signal?: AbortSignal;
}

const committed = (reader: BlobReader): PendingBlob => ({
  size: reader.size,
  chunks: reader.chunks,
  confirm: async () => undefined,
  close: async () => undefined,
});

/**
 * Opens the blob digest of content: the committed blob when there is one;
 * otherwise, when an ingest of the store expects that digest (a pull still
 * downloading it), the ingest followed as it is written when a follower
 * and the size are given, else the blob once the ingest committed it.
 * NotFound when neither the blob nor such an ingest exists (also when the
 * ingest is discarded while waited for); Unavailable when the commit takes
 * longer than waitMs; Canceled when signal aborts; the store's errors.
 */
export async function openPendingBlob(content: Store, digest: Digest, options: PendingBlobOptions = {}): Promise<PendingBlob> {
  const { follower, size, signal } = options;
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
    if (signal?.aborted === true) throw canceled(`waiting for blob ${digest} was canceled`, { fields: { digest } });
    try {
      return committed(await content.read(digest));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const ingests = await content.listStatuses([`expected==${digest}`]);
    const ingest = ingests.find((s) => size === undefined || s.total === 0 || s.total === size);
    // None: the blob may have been committed since the read; a second NotFound is the answer.
    if (ingest === undefined) return committed(await content.read(digest));
    if (follower !== undefined && size !== undefined) {
      try {
        const followed = await follower.follow(ingest.ref, digest, size, signal === undefined ? {} : { signal });
        return { size, chunks: followed.chunks, confirm: (s) => followed.confirm(s), close: () => followed.close() };
      } catch (err) {
        // Committed or discarded since the listing, or its file not created yet: look again.
        if (!isNotFound(err)) throw err;
      }
    }
    if (Date.now() > deadline) {
      throw unavailable(`blob ${digest} is being written to the layer-store but was not committed in time; pull it again`, { fields: { digest } });
    }
    await pause(delay, signal);
  }
}
