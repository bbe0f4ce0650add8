import type { BlobReader } from '@strata/content';

/** A reader prefetchBlob reads: a BlobReader, or a PendingBlob with confirm and close (see pending-blob.ts). */
export type PrefetchSource = BlobReader & { confirm?(signal?: AbortSignal): Promise<void>; close?(): Promise<void> };

/** A blob being read ahead of its use; see {@link prefetchBlob}. */
export interface PrefetchedBlob {
  /**
   * The blob's bytes in order: what was read ahead, then the rest from the
   * source. Iterate at most once. Rejects with the error of opening or
   * reading the blob (NotFound when it is missing).
   */
  chunks: AsyncIterable<Uint8Array>;
  /**
   * The source's confirm once chunks were read (see PendingBlob.confirm):
   * what must hold before anything made of them is kept; at once for a
   * source without one.
   */
  confirm(signal?: AbortSignal): Promise<void>;
  /** Stops reading ahead and releases the source (its close too) unless confirmed. Safe to call more than once. */
  cancel(): Promise<void>;
}

/**
 * Opens a blob now and reads up to maxBytes of it into memory (at least one
 * chunk), then waits for a consumer, so the next layer's bytes arrive while
 * the current one is applied, with bounded memory. The source is read on
 * from where the read-ahead stopped once chunks is iterated. open gets a
 * signal that cancel() aborts: a source still waiting for its blob (one a
 * pull is still storing) must stop waiting then.
 */
export function prefetchBlob(open: (signal: AbortSignal) => Promise<PrefetchSource>, maxBytes: number): PrefetchedBlob {
  const abort = new AbortController();
  const buffered: Uint8Array[] = [];
  let bytes = 0;
  let done = false;
  let attached = false;
  let iterator: AsyncIterator<Uint8Array> | undefined;
  let source: PrefetchSource | undefined;
  let released = false;
  let closed = false;

  const pump = (async () => {
    const reader = await open(abort.signal);
    source = reader;
    iterator = reader.chunks[Symbol.asyncIterator]();
    do {
      const next = await iterator.next();
      if (next.done === true) {
        done = true;
        return;
      }
      buffered.push(next.value);
      bytes += next.value.byteLength;
    } while (!attached && bytes < maxBytes);
  })();
  pump.catch(() => undefined);

  const release = async () => {
    if (released) return;
    released = true;
    if (!done) await iterator?.return?.();
  };

  return {
    chunks: {
      async *[Symbol.asyncIterator]() {
        if (attached) throw new Error('a prefetched blob can be read only once');
        attached = true;
        try {
          await pump;
          for (let chunk = buffered.shift(); chunk !== undefined; chunk = buffered.shift()) yield chunk;
          const source = iterator as AsyncIterator<Uint8Array>;
          while (!done) {
            const next = await source.next();
            if (next.done === true) {
              done = true;
              return;
            }
            yield next.value;
          }
        } finally {
          buffered.length = 0;
          await release();
        }
      },
    },
    async confirm(signal) {
      await pump;
      closed = true;
      await source?.confirm?.(signal);
    },
    async cancel() {
      const first = !attached;
      attached = true;
      abort.abort();
      await pump.catch(() => undefined);
      buffered.length = 0;
      if (first) await release();
      if (!closed) {
        closed = true;
        await source?.close?.();
      }
    },
  };
}
