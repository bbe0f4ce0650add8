import type { BlobReader } from '@strata/content';

/** A blob being read ahead of its use; see {@link prefetchBlob}. */
export interface PrefetchedBlob {
  /**
   * The blob's bytes in order: what was read ahead, then the rest from the
   * source. Iterate at most once. Rejects with the error of opening or
   * reading the blob (NotFound when it is missing).
   */
  chunks: AsyncIterable<Uint8Array>;
  /** Stops reading ahead and releases the source when chunks was never iterated. Safe to call more than once. */
  cancel(): Promise<void>;
}

/**
 * Opens a blob now and reads up to maxBytes of it into memory (at least one
 * chunk), then waits for a consumer, so the next layer's bytes arrive while
 * the current one is applied, with bounded memory. The source is read on
 * from where the read-ahead stopped once chunks is iterated.
 */
export function prefetchBlob(open: () => Promise<BlobReader>, maxBytes: number): PrefetchedBlob {
  const buffered: Uint8Array[] = [];
  let bytes = 0;
  let done = false;
  let attached = false;
  let iterator: AsyncIterator<Uint8Array> | undefined;
  let released = false;

  const pump = (async () => {
    const reader = await open();
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
    async cancel() {
      const first = !attached;
      attached = true;
      await pump.catch(() => undefined);
      buffered.length = 0;
      if (first) await release();
    },
  };
}
