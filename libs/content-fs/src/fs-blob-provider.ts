import { parseDigest } from '@strata/oci';
import type { Provider } from '@strata/content';
import { readBlobFile } from './blob-file.js';
import { blobPathOf, fsLayout } from './fs-store.js';

/** What createFsBlobProvider reads. */
export interface FsBlobProviderOptions {
  /** Root of a filesystem content store (createFsStore's root), written by another process. */
  root: string;
}

/**
 * A read-only Provider over the committed blobs of a filesystem content
 * store that another process (the layer-store) owns: it opens
 * `blobs/sha256/<hex>` under root directly, for a reader on the same host
 * that wants the bytes without a round trip through the store's API.
 * Committed blobs are immutable and appear only once verified (the store
 * links them into place after the digest check), so a file that exists is
 * whole. The digest is validated (InvalidArgument, parseDigest's message)
 * before it becomes a path; a symlink is not a blob. Raises what
 * readBlobFile raises: NotFound when the blob is absent — callers fall back
 * to the store's API then — and OutOfRange for a range past the end. It
 * creates and writes nothing.
 */
export function createFsBlobProvider(options: FsBlobProviderOptions): Provider {
  const { blobs } = fsLayout(options.root);
  return {
    async read(digest, range) {
      const d = parseDigest(digest);
      return readBlobFile(blobPathOf(blobs, d), d, range);
    },
  };
}
