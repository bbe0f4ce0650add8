import { describe, expect, it } from 'vitest';
import type { BlobReader } from '@strata/content';
import { notFound, isNotFound } from '@strata/kit';
import { prefetchBlob } from './blob-prefetch.js';

/** A blob of n chunks of size bytes each, recording how far it was read and whether it was released. */
function source(n: number, size: number) {
  const state = { read: 0, released: false };
  const open = async (): Promise<BlobReader> => ({
    size: n * size,
    chunks: (async function* () {
      try {
        for (let i = 0; i < n; i++) {
          state.read++;
          yield new Uint8Array(size).fill(i);
        }
      } finally {
        state.released = true;
      }
    })(),
  });
  return { state, open };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('prefetchBlob', () => {
  it('reads ahead up to the budget, then yields every byte in order', async () => {
    const { state, open } = source(10, 1000);
    const blob = prefetchBlob(open, 3000);
    await settle();
    expect(state.read).toBe(3);
    const seen: number[] = [];
    for await (const chunk of blob.chunks) seen.push(chunk[0]!, chunk.length);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((i) => [i, 1000]));
    expect(state.released).toBe(true);
  });

  it('reads at least one chunk, and cancel releases a source never consumed', async () => {
    const { state, open } = source(10, 1000);
    const blob = prefetchBlob(open, 0);
    await settle();
    expect(state.read).toBe(1);
    await blob.cancel();
    expect(state.released).toBe(true);
    await blob.cancel();
  });

  it('raises the error of opening when the chunks are read', async () => {
    const blob = prefetchBlob(() => Promise.reject(notFound('blob sha256:x not found')), 100);
    const err = await (async () => {
      for await (const _ of blob.chunks) return undefined;
    })().catch((e: unknown) => e);
    expect(isNotFound(err) && (err as Error).message).toBe('blob sha256:x not found');
    await blob.cancel();
  });

  it('releases the source when the consumer stops early', async () => {
    const { state, open } = source(10, 1000);
    const blob = prefetchBlob(open, 5000);
    for await (const chunk of blob.chunks) if (chunk[0] === 6) break;
    expect(state.released).toBe(true);
    expect(state.read).toBe(7);
  });

  it('aborts the signal of a source still waiting for its blob when canceled, and closes a source that was not confirmed', async () => {
    let aborted = false;
    const blob = prefetchBlob(
      (signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(notFound('blob sha256:x not found'));
          });
        }),
      100,
    );
    await blob.cancel();
    expect(aborted).toBe(true);

    const closed: string[] = [];
    const { open } = source(2, 10);
    const withClose = (name: string) => async () => ({ ...(await open()), confirm: async () => void closed.push(`${name} confirmed`), close: async () => void closed.push(`${name} closed`) });
    const unconfirmed = prefetchBlob(withClose('a'), 100);
    await unconfirmed.cancel();
    const confirmed = prefetchBlob(withClose('b'), 100);
    for await (const _ of confirmed.chunks);
    await confirmed.confirm();
    await confirmed.cancel();
    expect(closed).toEqual(['a closed', 'b confirmed']);
  });
});
