import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlobReader } from '@strata/content';
import { createMemoryStore, randomBytesOf, writeBlob } from '@strata/content/testing';
import { digestOf, type Digest } from '@strata/oci';
import { createSharedBlobReads, type OpenBlob, type SentRange, type SharedBlobReadsOptions } from './shared-blob-reads.js';
import { startTestRegistry } from './testing/test-registry.js';

const PIECE = 64 * 1024;
const store = createMemoryStore();
afterAll(() => store.close());

/** A blob of size random bytes in the store. */
async function blob(size: number): Promise<{ digest: Digest; bytes: Buffer }> {
  const bytes = randomBytesOf(size);
  return { digest: (await writeBlob(store, bytes)).digest, bytes };
}

/** store.read of digest as an OpenBlob, recording the ranges asked for (undefined: the whole blob). */
function counting(digest: Digest, fail?: (range: SentRange | undefined) => boolean): OpenBlob & { calls: Array<SentRange | undefined> } {
  const calls: Array<SentRange | undefined> = [];
  const open = (range?: SentRange) => {
    calls.push(range);
    if (fail?.(range)) return Promise.reject(new Error(`read of ${JSON.stringify(range)} failed`));
    return store.read(digest, range);
  };
  return Object.assign(open, { calls });
}

/** Whether two buffers hold the same bytes (toEqual compares big buffers byte by byte, slowly). */
const same = (a: Buffer, b: Buffer) => a.equals(b);

async function bytesOf(reader: BlobReader): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of reader.chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/**
 * A reader whose first chunk has been taken, so it counts as a response
 * reading the blob until finish() has read the rest.
 */
async function started(reader: BlobReader): Promise<{ finish: () => Promise<Buffer> }> {
  const iterator = reader.chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  return {
    async finish() {
      const parts: Buffer[] = first.done ? [] : [Buffer.from(first.value)];
      for (let n = await iterator.next(); !n.done; n = await iterator.next()) parts.push(Buffer.from(n.value));
      return Buffer.concat(parts);
    },
  };
}

const shared = (options: SharedBlobReadsOptions = {}) => createSharedBlobReads({ pieceBytes: PIECE, ...options });

describe('createSharedBlobReads', () => {
  it('gives a lone response the repository reader itself, over the whole blob, and keeps nothing', async () => {
    const { digest, bytes } = await blob(5 * PIECE + 17);
    const reads = shared();
    const open = counting(digest);
    expect(same(await bytesOf(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open)), bytes)).toBe(true);
    expect(open.calls).toEqual([undefined]);
    expect(reads.heldBytes()).toBe(0);

    // One after the other: never two at once, so never shared.
    expect(same(await bytesOf(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open)), bytes)).toBe(true);
    expect(open.calls).toEqual([undefined, undefined]);
  });

  it('reads each piece once for responses that send the same blob at the same time', async () => {
    const { digest, bytes } = await blob(10 * PIECE + 123);
    const reads = shared();
    const open = counting(digest);
    const first = await started(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open));
    const others = await Promise.all(Array.from({ length: 7 }, () => reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open)));
    const results = await Promise.all([first.finish(), ...others.map(bytesOf)]);

    for (const result of results) expect(createHash('sha256').update(result).digest('hex')).toBe(digest.slice('sha256:'.length));
    // The first response's own read of the whole blob, then the 11 pieces once each.
    expect(open.calls[0]).toBeUndefined();
    expect(open.calls.slice(1)).toEqual(Array.from({ length: 11 }, (_, i) => ({ offset: i * PIECE, length: i < 10 ? PIECE : 123 })));
    // Kept while they read it; gone with the last of them.
    expect(reads.heldBytes()).toBe(0);
  });

  it('shares nothing between two keys of one digest (two repositories, two upstreams)', async () => {
    const { digest, bytes } = await blob(3 * PIECE);
    const reads = shared();
    const open = counting(digest);
    const first = await started(await reads.open(`upstream-a repo ${digest}`, bytes.length, { offset: 0, length: bytes.length }, open));
    const other = await reads.open(`upstream-b repo ${digest}`, bytes.length, { offset: 0, length: bytes.length }, open);
    expect(same(await bytesOf(other), bytes)).toBe(true);
    expect(same(await first.finish(), bytes)).toBe(true);
    expect(open.calls).toEqual([undefined, undefined]);
    expect(reads.heldBytes()).toBe(0);
  });

  it('sends a shared range that starts and ends inside pieces', async () => {
    const { digest, bytes } = await blob(6 * PIECE);
    const reads = shared();
    const open = counting(digest);
    const first = await started(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open));
    const range = { offset: PIECE + 5, length: 3 * PIECE - 9 };
    const part = await bytesOf(await reads.open(digest, bytes.length, range, open));
    expect(same(part, bytes.subarray(range.offset, range.offset + range.length))).toBe(true);
    expect(open.calls.slice(1)).toEqual([1, 2, 3].map((i) => ({ offset: i * PIECE, length: PIECE })));
    expect(same(await first.finish(), bytes)).toBe(true);

    // The lone response's range goes to the repository as asked.
    const lone = counting(digest);
    expect(same(await bytesOf(await reads.open(digest, bytes.length, range, lone)), part)).toBe(true);
    expect(lone.calls).toEqual([range]);
  });

  it('keeps at most its budget, and pieces evicted are read again', async () => {
    const { digest, bytes } = await blob(8 * PIECE);
    const reads = shared({ budgetBytes: 2 * PIECE });
    const open = counting(digest);
    const first = await started(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open));
    const second = await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open);
    const third = await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open);
    let most = 0;
    const watched = async (reader: BlobReader) => {
      const parts: Buffer[] = [];
      for await (const chunk of reader.chunks) {
        most = Math.max(most, reads.heldBytes());
        parts.push(Buffer.from(chunk));
      }
      return Buffer.concat(parts);
    };
    // One after the other: the third finds only the last two pieces kept.
    expect(same(await watched(second), bytes)).toBe(true);
    expect(same(await watched(third), bytes)).toBe(true);
    expect(same(await first.finish(), bytes)).toBe(true);
    expect(most).toBeLessThanOrEqual(2 * PIECE);
    expect(open.calls.length).toBe(1 + 8 + 8);
  });

  it('fails the responses that wait for a piece that cannot be read, keeps nothing of it, and reads it again later', async () => {
    const { digest, bytes } = await blob(4 * PIECE);
    const reads = shared();
    let broken = true;
    const open = counting(digest, (range) => broken && range?.offset === 2 * PIECE);
    const first = await started(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open));
    const failing = await Promise.all([0, 1].map(() => reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open)));
    for (const result of await Promise.allSettled(failing.map(bytesOf))) {
      expect(result).toMatchObject({ status: 'rejected', reason: { message: `read of {"offset":${2 * PIECE},"length":${PIECE}} failed` } });
    }
    expect(reads.heldBytes()).toBe(2 * PIECE);
    expect(same(await first.finish(), bytes)).toBe(true);
    expect(reads.heldBytes()).toBe(0);

    broken = false;
    const next = await started(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open));
    const again = await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open);
    expect(same(await bytesOf(again), bytes)).toBe(true);
    expect(same(await next.finish(), bytes)).toBe(true);
  });

  it('opens a whole blob alone with the repository reader, counted as a reader, and declines while another response reads it', async () => {
    const { digest, bytes } = await blob(4 * PIECE + 1);
    const reads = shared();
    const open = counting(digest);
    const alone = reads.openAlone(digest, open);
    expect(alone).toBeDefined();
    const first = await started(await alone!);
    expect(reads.openAlone(digest, open)).toBeUndefined();
    // The next response shares pieces with the first, which counts as reading the blob.
    expect(same(await bytesOf(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open)), bytes)).toBe(true);
    expect(same(await first.finish(), bytes)).toBe(true);
    expect(open.calls).toEqual([undefined, ...[0, 1, 2, 3, 4].map((i) => ({ offset: i * PIECE, length: i < 4 ? PIECE : 1 }))]);
    expect(reads.heldBytes()).toBe(0);
    expect(reads.openAlone(digest, open)).toBeDefined();
    await expect(reads.openAlone(digestOf('none'), () => Promise.reject(new Error('no such blob')))).rejects.toThrow('no such blob');
  });

  it('shares nothing with a budget of 0, and refuses settings that are not byte counts', async () => {
    const { digest, bytes } = await blob(3 * PIECE);
    const reads = shared({ budgetBytes: 0 });
    const open = counting(digest);
    const first = await started(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open));
    expect(same(await bytesOf(await reads.open(digest, bytes.length, { offset: 0, length: bytes.length }, open)), bytes)).toBe(true);
    expect(same(await first.finish(), bytes)).toBe(true);
    expect(open.calls).toEqual([undefined, undefined]);

    expect(() => createSharedBlobReads({ budgetBytes: -1 })).toThrow('shared blob reads: budget -1 is not a byte count');
    expect(() => createSharedBlobReads({ pieceBytes: 0 })).toThrow('shared blob reads: piece size 0 is not a positive byte count');
  });
});

describe('the registry handler with responses of one blob at the same time', () => {
  it('sends 16 concurrent GETs and ranges of one blob byte for byte', async () => {
    const registry = await startTestRegistry();
    try {
      const bytes = randomBytesOf(3 * 1024 * 1024 + 999);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const put = await fetch(`${registry.url}/v2/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
      expect(put.status).toBe(201);
      await put.arrayBuffer();

      const get = async (range?: string) => {
        const res = await fetch(`${registry.url}/v2/app/blobs/${digest}`, range === undefined ? {} : { headers: { Range: range } });
        return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
      };
      const whole = await Promise.all(Array.from({ length: 16 }, () => get()));
      for (const { status, body } of whole) {
        expect(status).toBe(200);
        expect(body.equals(bytes)).toBe(true);
      }
      const ranges = await Promise.all([get(), get('bytes=1048570-2097160'), get('bytes=5-9'), get()]);
      expect(ranges.map((r) => r.status)).toEqual([200, 206, 206, 200]);
      expect(ranges[1]!.body.equals(bytes.subarray(1048570, 2097161))).toBe(true);
      expect(ranges[2]!.body.equals(bytes.subarray(5, 10))).toBe(true);
      expect(ranges[3]!.body.equals(bytes)).toBe(true);
    } finally {
      await registry.close();
    }
  });
});
