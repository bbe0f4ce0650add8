import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { invalidArgument } from '@strata/kit';

/** The first two bytes of gzip data. */
export const GZIP_MAGIC: readonly number[] = [0x1f, 0x8b];

/**
 * Yields source decompressed when its first bytes are the gzip magic, as it
 * is otherwise (the way `docker load` and `docker import` accept either).
 * Raises InvalidArgument, naming what, for gzip data that is corrupt or
 * cut short.
 */
export async function* maybeGunzip(source: AsyncIterable<Uint8Array>, what = 'archive'): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  let first = await iterator.next();
  while (!first.done && first.value.length === 0) first = await iterator.next();
  if (first.done) return;
  const head = first.value;
  async function* all(): AsyncGenerator<Uint8Array> {
    yield head;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  }
  if (head[0] !== GZIP_MAGIC[0] || head[1] !== GZIP_MAGIC[1]) {
    yield* all();
    return;
  }
  const gunzip = pipeline(Readable.from(all()), createGunzip(), () => undefined);
  try {
    for await (const chunk of gunzip as AsyncIterable<Uint8Array>) yield chunk;
  } catch (err) {
    const code = String((err as NodeJS.ErrnoException).code ?? '');
    if (code.startsWith('Z_')) throw invalidArgument(`${what} is not valid gzip data (${(err as Error).message})`, { cause: err });
    throw err;
  } finally {
    gunzip.destroy();
  }
}
