import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isFailedPrecondition } from '@strata/kit';
import { digestOf } from '@strata/oci';
import { pipeBlob, putBlob } from './blob-bytes.js';
import type { BlobReader } from './types.js';
import { createMemoryStore, readBlob } from './testing/index.js';

describe('putBlob', () => {
  it('stores bytes with labels, and on a second put only sets the labels', async () => {
    const store = createMemoryStore();
    const bytes = Buffer.from('{"schemaVersion":2}');
    const digest = digestOf(bytes);
    await putBlob(store, digest, bytes, { a: '1' }, 'manifest');
    expect(Buffer.from(await readBlob(store, digest)).toString()).toBe('{"schemaVersion":2}');
    await putBlob(store, digest, bytes, { b: '2' });
    expect((await store.info(digest)).labels).toEqual({ a: '1', b: '2' });
    expect(await store.listStatuses()).toEqual([]);
  });

  it('stores nothing when the bytes do not match the digest', async () => {
    const store = createMemoryStore();
    const digest = digestOf('other');
    const err = await putBlob(store, digest, Buffer.from('bytes'), {}).catch((e: unknown) => e);
    expect(isFailedPrecondition(err)).toBe(true);
    expect((err as Error).message).toContain(digest);
    await expect(store.info(digest)).rejects.toThrow(/not found/);
    expect(await store.listStatuses()).toEqual([]);
  });
});

/** A reader over parts whose chunks are recorded as released, in order. */
function recordingReader(parts: readonly Buffer[], withRelease: boolean): { reader: BlobReader; released: Uint8Array[]; yielded: Uint8Array[] } {
  const released: Uint8Array[] = [];
  const yielded: Uint8Array[] = [];
  const reader: BlobReader = {
    size: parts.reduce((n, p) => n + p.length, 0),
    chunks: (async function* () {
      for (const part of parts) {
        yielded.push(part);
        yield part;
      }
    })(),
    ...(withRelease ? { release: (chunk: Uint8Array) => void released.push(chunk) } : {}),
  };
  return { reader, released, yielded };
}

describe('pipeBlob', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  /** Serves handler on a free port; resolves with the body a GET receives, or the error of the GET. */
  const fetchThrough = async (handler: Parameters<typeof createServer>[1]): Promise<Buffer> => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    return new Promise<Buffer>((resolve, reject) => {
      get(`http://127.0.0.1:${port}/`, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      }).on('error', reject);
    });
  };

  it('writes every byte in order, ends the response, and releases each chunk once it was written', async () => {
    const parts = Array.from({ length: 12 }, (_, i) => Buffer.alloc(300_000, i));
    const { reader, released, yielded } = recordingReader(parts, true);
    let piped: Promise<void> | undefined;
    const body = await fetchThrough((_req, res) => {
      res.setHeader('content-length', reader.size);
      piped = pipeBlob(reader, res);
    });
    await piped;
    expect(body.equals(Buffer.concat(parts))).toBe(true);
    expect(released.length).toBe(yielded.length);
    expect(released.every((chunk, i) => chunk === yielded[i])).toBe(true);
  });

  it('works with readers that offer no release, and with a Readable as the chunks', async () => {
    const parts = [Buffer.from('hello '), Buffer.from('world')];
    const { reader } = recordingReader(parts, false);
    let piped: Promise<void> | undefined;
    const body = await fetchThrough((_req, res) => {
      piped = pipeBlob(reader, res);
    });
    await piped;
    expect(body.toString()).toBe('hello world');

    const fromStream: BlobReader = { size: 3, chunks: Readable.from([Buffer.from('abc')], { objectMode: false }) };
    const again = await fetchThrough((_req, res) => {
      piped = pipeBlob(fromStream, res);
    });
    await piped;
    expect(again.toString()).toBe('abc');
  });

  it('rejects, and stops the reader, when the destination closes before the end', async () => {
    let stopped = false;
    const reader: BlobReader = {
      size: Number.MAX_SAFE_INTEGER,
      chunks: (async function* () {
        try {
          for (;;) yield Buffer.alloc(1 << 20);
        } finally {
          stopped = true;
        }
      })(),
    };
    let piped: Promise<void> | undefined;
    const server = createServer((_req, res) => {
      piped = pipeBlob(reader, res);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => {
      const req = get(`http://127.0.0.1:${port}/`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
    });
    await expect(piped).rejects.toThrow();
    expect(stopped).toBe(true);
  });
});
