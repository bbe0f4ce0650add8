import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { createParallelGzip, type ParallelGzipOptions } from './parallel-gzip.js';
import { collectBytes } from './tar-writer.js';

/** Half random bytes, half repeated text, like the files of a container. */
function sample(bytes: number): Buffer {
  const text = Buffer.from('line of a log file with some repeated text 0123456789\n'.repeat(Math.ceil(bytes / 2 / 54)));
  return Buffer.concat([randomBytes(bytes / 2), text]).subarray(0, bytes);
}

function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return out;
}

async function compress(chunks: readonly Buffer[], options: ParallelGzipOptions = {}): Promise<Buffer> {
  const gzip = createParallelGzip(options);
  const collected = collectBytes(gzip);
  await pipeline(Readable.from(chunks), gzip);
  return Buffer.from(await collected);
}

describe('createParallelGzip', () => {
  it.each<[string, number, number, ParallelGzipOptions]>([
    ['1 MiB pieces', 5 << 20, 1 << 20, {}],
    ['one piece at a time', 3 << 20, 1 << 20, { concurrency: 1 }],
    ['pieces smaller than the window', 300_000, 10_000, { concurrency: 4 }],
    ['odd pieces, level 1', 1_000_001, 77_777, { level: 1 }],
    ['one byte', 1, 1, {}],
  ])('writes one gzip member that gunzip reads back: %s', async (_case, bytes, size, options) => {
    const data = sample(bytes + (bytes % 2));
    const gz = await compress(pieces(data, size), options);
    expect(gz.subarray(0, 10)).toEqual(gzipSync(Buffer.alloc(0)).subarray(0, 10));
    expect(gunzipSync(gz).equals(data)).toBe(true);
  });

  it('compresses no data exactly as zlib does', async () => {
    expect(await compress([])).toEqual(gzipSync(Buffer.alloc(0)));
  });

  it('gives the same bytes for the same pieces, about as small as one gzip stream', async () => {
    const data = sample(4 << 20);
    const first = await compress(pieces(data, 1 << 20));
    const second = await compress(pieces(data, 1 << 20), { concurrency: 1 });
    expect(second.equals(first)).toBe(true);
    const single = gzipSync(data, { level: 6 });
    expect(Math.abs(first.length - single.length)).toBeLessThan(single.length / 1000);
  });

  it('releases each piece once, after it was compressed (overwriting it then changes nothing)', async () => {
    const data = sample(4 << 20);
    const original = Buffer.from(data);
    const chunks = pieces(data, 512 * 1024);
    const released: Buffer[] = [];
    const gz = await compress(chunks, {
      concurrency: 2,
      release: (chunk) => {
        released.push(chunk);
        chunk.fill(0xee);
      },
    });
    expect(released).toHaveLength(chunks.length);
    expect(chunks.every((chunk) => released.includes(chunk))).toBe(true);
    expect(data.every((b) => b === 0xee)).toBe(true);
    expect(gunzipSync(gz).equals(original)).toBe(true);
  });

  it.each<[ParallelGzipOptions, string]>([
    [{ level: 10 }, 'gzip level 10 is not a whole number in 0..9'],
    [{ level: 1.5 }, 'gzip level 1.5 is not a whole number in 0..9'],
    [{ concurrency: 0 }, 'gzip concurrency 0 is not a whole number of 1 or more'],
  ])('refuses %j', (options, message) => {
    let error: unknown;
    try {
      createParallelGzip(options);
    } catch (err) {
      error = err;
    }
    expect({ kind: errorKind(error), message: (error as Error).message }).toEqual({ kind: 'InvalidArgument', message });
  });
});
