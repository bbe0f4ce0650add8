import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { internal, silentLogger, unimplemented } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import type { Store } from '@strata/content';
import { createFsStore, fsLayout } from '@strata/content-fs';
import { createMemoryStore, wrapWriters } from '@strata/content/testing';
import { createRegistryClient, type RegistryClient } from '@strata/distribution-client';
import { buildImage, pushImage, startDistributionRegistry, type BuiltLayer, type TestDistributionRegistry } from '@strata/image-fixtures';
import { digestHex, digestOf } from '@strata/oci';
import { createBlobFetcher, type BlobSource } from './blob-fetcher.js';

const logger = silentLogger();
const run = promisify(execFile);
const scratch = tempDir('strata-blob-fetcher-');
let upstream: TestDistributionRegistry;
let client: RegistryClient;
let blob: BuiltLayer;
let pushed = 0;

/** A layer of about 2.5 MB (several of the fetcher's 1 MiB pieces), or of size bytes, pushed to its own repository; corrupt flips one byte of it upstream. */
async function pushLayer(corrupt = false, size = 2_500_000): Promise<BlobSource> {
  const image = await buildImage({ layers: [{ items: [{ file: 'data.bin', content: randomBytes(size) }] }] });
  const repository = `team/fetch${++pushed}`;
  await pushImage(upstream.url, repository, 'latest', image);
  blob = image.layers[0]!;
  if (corrupt) {
    const hex = digestHex(blob.digest);
    const bytes = Buffer.from(blob.bytes);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await writeFile(join(upstream.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data'), bytes);
  }
  return { upstream: client.upstream(upstream.host), repository, digest: blob.digest };
}

/** Reads the whole blob through fetcher; rejects as the iteration does. */
async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

const mismatch = (source: BlobSource) => `blob ${source.repository}@${source.digest} from upstream ${upstream.host}: content has digest`;

/** A memory store whose commits wait until release() is called; committing() says whether one has begun. */
function gatedCommits() {
  let committing = false;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const store = wrapWriters(createMemoryStore(), (writer) => ({
    async commit(options) {
      committing = true;
      await gate;
      return writer.commit(options);
    },
  }));
  return { store, committing: () => committing, release };
}

/** A memory store that records the total each writer is opened with (undefined: none announced). */
function recordingTotals(): { store: Store; opened: Array<number | undefined> } {
  const opened: Array<number | undefined> = [];
  const store = createMemoryStore();
  return {
    store: {
      ...store,
      writer: (options) => {
        opened.push(options.total);
        return store.writer(options);
      },
    },
    opened,
  };
}

beforeAll(async () => {
  upstream = await startDistributionRegistry();
  client = createRegistryClient({ upstreams: [{ host: upstream.host }], logger, fetchTimeoutMs: 5000 });
});
afterEach(() => {
  upstream.clearRequestLog();
});
afterAll(async () => {
  client?.close();
  await upstream?.stop();
  scratch.remove();
});

describe('createBlobFetcher', () => {
  it('reads released pieces into the same memory again, while fetching and from the store afterwards', async () => {
    const source = await pushLayer();
    const fetcher = createBlobFetcher({ store: createMemoryStore(), logger, spoolDir: scratch.path });
    const reader = await fetcher.open(source);
    const seen = new Set<ArrayBufferLike>();
    const parts: Buffer[] = [];
    for await (const chunk of reader.chunks) {
      seen.add(chunk.buffer);
      parts.push(Buffer.from(chunk));
      reader.release?.(chunk);
      reader.release?.(chunk);
    }
    expect(Buffer.concat(parts).equals(Buffer.from(blob.bytes))).toBe(true);
    expect(seen.size).toBeLessThan(parts.length);
    const after = await fetcher.open(source);
    expect((await readAll(after.chunks)).equals(Buffer.from(blob.bytes))).toBe(true);
  });

  it('fills the memory of pieces again only once every reader released them, however far apart the readers are', async () => {
    const source = await pushLayer(false, 20_000_000);
    const fetcher = createBlobFetcher({ store: createMemoryStore(), logger, spoolDir: scratch.path });
    const [releasing, holding] = await Promise.all([fetcher.open(source), fetcher.open(source)]);
    const buffers = new Set<ArrayBufferLike>();
    const released: Buffer[] = [];
    const held: Uint8Array[] = [];
    const readHolding = async () => {
      // Holds every chunk as it came, unreleased and uncopied: none may change while it is held.
      for await (const chunk of holding.chunks) {
        held.push(chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const readReleasing = async () => {
      for await (const chunk of releasing.chunks) {
        buffers.add(chunk.buffer);
        released.push(Buffer.from(chunk));
        releasing.release?.(chunk);
      }
    };
    await Promise.all([readHolding(), readReleasing()]);
    expect(Buffer.concat(released).equals(Buffer.from(blob.bytes))).toBe(true);
    expect(Buffer.concat(held).equals(Buffer.from(blob.bytes))).toBe(true);
    expect(buffers.size).toBeLessThan(released.length);
  });

  it('commits the blob before its final byte reaches a reader', async () => {
    const source = await pushLayer();
    const { store, committing, release } = gatedCommits();
    const fetcher = createBlobFetcher({ store, logger, spoolDir: scratch.path });
    const reader = await fetcher.open(source);
    expect(reader.size).toBe(blob.size);
    const chunks = reader.chunks[Symbol.asyncIterator]();
    const parts: Buffer[] = [];
    let got = 0;
    while (got < blob.size - 1) {
      const next = await chunks.next();
      expect(next.done).toBe(false);
      parts.push(Buffer.from(next.value as Uint8Array));
      got += (next.value as Uint8Array).length;
    }
    expect(got).toBe(blob.size - 1);
    await waitFor(committing, () => 'the fetch to commit');
    const last = chunks.next();
    const first = await Promise.race([last.then(() => 'byte'), new Promise((resolve) => setTimeout(() => resolve('held back'), 200))]);
    expect(first).toBe('held back');
    release();
    const final = await last;
    expect(final.value).toHaveLength(1);
    parts.push(Buffer.from(final.value as Uint8Array));
    expect((await chunks.next()).done).toBe(true);
    expect(Buffer.compare(Buffer.concat(parts), Buffer.from(blob.bytes))).toBe(0);
    expect(await store.info(source.digest)).toMatchObject({ digest: source.digest, size: blob.size });
  });

  it('stores a blob for fetch() without handing it over, sharing one upstream request with a reader', async () => {
    const source = await pushLayer();
    const store = createMemoryStore();
    const fetcher = createBlobFetcher({ store, logger, spoolDir: scratch.path });
    const [fetch, reader] = await Promise.all([fetcher.fetch(source), fetcher.open(source)]);
    expect(fetch.size).toBe(blob.size);
    const progress: number[] = [];
    const [stored, read] = await Promise.all([fetch.wait((received) => progress.push(received)), readAll(reader.chunks)]);
    expect(stored).toBe(true);
    expect(read.equals(Buffer.from(blob.bytes))).toBe(true);
    expect(progress.at(-1)).toBe(blob.size);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(await store.info(source.digest)).toMatchObject({ digest: source.digest, size: blob.size });
    await upstream.settleRequestLog();
    expect(upstream.requestLog().filter((r) => r.method === 'GET' && r.path.includes(`/v2/${source.repository}/blobs/`))).toHaveLength(1);
  });

  it('opens the ingest while the upstream answers when the size is known, and discards it when the upstream has no such blob', async () => {
    const source = await pushLayer();
    const { store: recording, opened } = recordingTotals();
    const fetcher = createBlobFetcher({ store: recording, logger, spoolDir: scratch.path });
    const absent = { ...source, digest: `sha256:${'0'.repeat(64)}` as typeof source.digest, size: 1234 };
    await expect(fetcher.fetch(absent)).rejects.toMatchObject({ kind: 'NotFound' });
    expect(opened).toEqual([1234]);
    expect(await recording.listStatuses()).toEqual([]);

    const fetch = await fetcher.fetch({ ...source, size: blob.size });
    expect(await fetch.wait()).toBe(true);
    expect(opened).toEqual([1234, blob.size]);
    expect(await recording.info(source.digest)).toMatchObject({ size: blob.size });
  });

  it('opens the ingest while the upstream answers also when the size is not known, announcing no total, and discards it for an absent blob', async () => {
    const source = await pushLayer();
    const { store: recording, opened } = recordingTotals();
    const fetcher = createBlobFetcher({ store: recording, logger, spoolDir: scratch.path });
    await expect(fetcher.open({ ...source, digest: `sha256:${'0'.repeat(64)}` as typeof source.digest })).rejects.toMatchObject({ kind: 'NotFound' });
    expect(opened).toEqual([undefined]);
    expect(await recording.listStatuses()).toEqual([]);

    const reader = await fetcher.open(source);
    expect(opened).toEqual([undefined, undefined]);
    expect((await readAll(reader.chunks)).equals(Buffer.from(blob.bytes))).toBe(true);
    expect(await recording.info(source.digest)).toMatchObject({ size: blob.size });
  });

  it('stores a blob whose upstream size differs from the expected one under its own size', async () => {
    const source = await pushLayer();
    const store = createMemoryStore();
    const fetcher = createBlobFetcher({ store, logger, spoolDir: scratch.path });
    const fetch = await fetcher.fetch({ ...source, size: blob.size + 5 });
    expect(fetch.size).toBe(blob.size);
    expect(await fetch.wait()).toBe(true);
    expect(await store.info(source.digest)).toMatchObject({ size: blob.size });
    expect(await store.listStatuses()).toEqual([]);
  });

  it('stops waiting for a fetch when the signal aborts, and the fetch goes on for its reader', async () => {
    const source = await pushLayer();
    const fetcher = createBlobFetcher({ store: createMemoryStore(), logger, spoolDir: scratch.path });
    const [fetch, reader] = await Promise.all([fetcher.fetch(source), fetcher.open(source)]);
    const abort = new AbortController();
    const waiting = fetch.wait(() => abort.abort(), abort.signal);
    await expect(waiting).rejects.toMatchObject({ kind: 'Canceled', message: 'the fetch was canceled' });
    expect((await readAll(reader.chunks)).equals(Buffer.from(blob.bytes))).toBe(true);
  });

  it('writes no spool for fetch(): a reader that joins it gets the blob from the store once it is committed', async () => {
    const source = await pushLayer();
    const { store, committing, release } = gatedCommits();
    // A spool could not be created here: fetch() must not try.
    const fetcher = createBlobFetcher({ store, logger, spoolDir: join(scratch.path, 'absent') });
    const fetch = await fetcher.fetch(source);
    const stored = fetch.wait();
    await waitFor(committing, () => 'the fetch to commit');
    const [whole, range] = await Promise.all([fetcher.open(source), fetcher.open(source, { offset: 1000, length: 1_500_000 })]);
    expect([whole.size, range.size]).toEqual([blob.size, blob.size]);
    const reading = Promise.all([readAll(whole.chunks), readAll(range.chunks)]);
    const first = await Promise.race([reading.then(() => 'bytes'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 200))]);
    expect(first).toBe('waiting');
    release();
    const [all, part] = await reading;
    expect(Buffer.compare(all, Buffer.from(blob.bytes))).toBe(0);
    expect(Buffer.compare(part, Buffer.from(blob.bytes).subarray(1000, 1_501_000))).toBe(0);
    expect(await stored).toBe(true);
    await upstream.settleRequestLog();
    expect(upstream.requestLog().filter((r) => r.method === 'GET' && r.path.includes(`/v2/${source.repository}/blobs/`))).toHaveLength(1);
  });

  it.each([
    ['the blob is corrupted upstream', true, () => createMemoryStore(), { kind: 'FailedPrecondition', message: 'content has digest' }],
    [
      'a store write fails',
      false,
      () => wrapWriters(createMemoryStore(), () => ({ write: () => Promise.reject(internal('disk on fire')) })),
      { kind: 'Unavailable', message: 'the store did not take it (disk on fire); nothing was cached, pull it again' },
    ],
    [
      'the commit fails',
      false,
      () => wrapWriters(createMemoryStore(), () => ({ commit: () => Promise.reject(internal('metadata store down')) })),
      { kind: 'Unavailable', message: 'the store did not take it (metadata store down); nothing was cached, pull it again' },
    ],
  ])('fails fetch() and a reader that joined it when %s, caching nothing', async (_case, corrupt, makeStore, failure) => {
    const source = await pushLayer(corrupt);
    const store = makeStore();
    const fetcher = createBlobFetcher({ store, logger, spoolDir: join(scratch.path, 'absent') });
    const fetch = await fetcher.fetch(source);
    const reader = await fetcher.open(source);
    const expected = { kind: failure.kind, message: expect.stringContaining(`blob ${source.repository}@${source.digest} from upstream ${upstream.host}: ${failure.message}`) };
    await Promise.all([expect(fetch.wait()).rejects.toMatchObject(expected), expect(readAll(reader.chunks)).rejects.toMatchObject(expected)]);
    await expect(store.info(source.digest)).rejects.toMatchObject({ kind: 'NotFound' });
    expect(await store.listStatuses()).toEqual([]);
  });

  it('tells a reader that joined fetch() when the blob was not committed (another fetch held its ingest)', async () => {
    const source = await pushLayer();
    const store = createMemoryStore();
    const held = await store.writer({ ref: `proxy-${digestHex(source.digest)}` });
    try {
      const fetcher = createBlobFetcher({ store, logger, spoolDir: join(scratch.path, 'absent') });
      const fetch = await fetcher.fetch(source);
      const reader = await fetcher.open(source);
      expect(await fetch.wait()).toBe(false);
      await expect(readAll(reader.chunks)).rejects.toMatchObject({
        kind: 'Unavailable',
        message: `upstream ${upstream.host}: blob ${source.repository}@${source.digest} was fetched, but not committed to the store (another fetch holds its ingest, or the store failed); try again`,
      });
    } finally {
      await held.close();
    }
  });

  it.each([
    ['the store verifies it', () => createMemoryStore(), false, true, undefined],
    ['another fetch holds the ingest (the fetch hashes while streaming)', () => createMemoryStore(), true, false, undefined],
    [
      "a store write fails midway (a reader's fetch hashes its spool; fetch() has none and fails)",
      () => {
        let written = 0;
        return wrapWriters(createMemoryStore(), (writer) => ({
          async write(data) {
            written += data.length;
            if (written > 1_500_000) throw internal('disk on fire');
            await writer.write(data);
          },
        }));
      },
      false,
      false,
      'disk on fire',
    ],
    [
      "the commit fails (a reader's fetch hashes its spool; fetch() has none and fails)",
      () => wrapWriters(createMemoryStore(), () => ({ commit: () => Promise.reject(internal('metadata store down')) })),
      false,
      false,
      'metadata store down',
    ],
  ])('serves a good blob and refuses a corrupted one to a reader and to fetch(), caching nothing unverified, when %s', async (_case, makeStore, holdIngest, caches, storeFailure) => {
    for (const [corrupt, way] of [
      [false, 'open'],
      [true, 'open'],
      [false, 'fetch'],
      [true, 'fetch'],
    ] as const) {
      const source = await pushLayer(corrupt);
      const store = makeStore();
      const held = holdIngest ? await store.writer({ ref: `proxy-${digestHex(source.digest)}` }) : undefined;
      try {
        const fetcher = createBlobFetcher({ store, logger, spoolDir: scratch.path });
        const refused = { kind: 'FailedPrecondition', message: expect.stringContaining(mismatch(source)) };
        if (way === 'fetch') {
          // fetch() says whether the fetch committed the blob; with no spool, a store that fails fails it.
          const fetch = await fetcher.fetch(source);
          if (storeFailure !== undefined) {
            await expect(fetch.wait()).rejects.toMatchObject({ kind: 'Unavailable', message: expect.stringContaining(`the store did not take it (${storeFailure})`) });
          } else if (corrupt) await expect(fetch.wait()).rejects.toMatchObject(refused);
          else expect(await fetch.wait()).toBe(caches);
        } else {
          const reader = await fetcher.open(source);
          if (corrupt) await expect(readAll(reader.chunks)).rejects.toMatchObject(refused);
          else expect(Buffer.compare(await readAll(reader.chunks), Buffer.from(blob.bytes))).toBe(0);
        }
        // A fetch ends once readers are served; a second open starts another one or reads the store.
        await waitFor(() => fetcher.inFlightSize(upstream.host, source.digest) === undefined, () => 'the fetch to end');
        if (caches && !corrupt) expect(await store.info(source.digest)).toMatchObject({ size: blob.size });
        else await expect(store.info(source.digest)).rejects.toMatchObject({ kind: 'NotFound' });
        expect((await store.listStatuses()).filter((s) => s.ref !== held?.ref)).toEqual([]);
      } finally {
        await held?.close();
      }
    }
  });

  describe('with a store on this host that imports the spool', () => {
    /** A filesystem store on a fresh root, its imports directory, and the refs of the writers opened on it. */
    const fsStore = async () => {
      const root = tempDir('strata-blob-fetcher-store-');
      const inner = await createFsStore({ root: root.path, logger });
      const writers: string[] = [];
      const store: Store = {
        ...inner,
        importFile: inner.importFile!,
        writer: (options) => {
          writers.push(options.ref);
          return inner.writer(options);
        },
      };
      return {
        store,
        importsDir: fsLayout(root.path).imports,
        writers,
        async close() {
          await inner.close();
          root.remove();
        },
      };
    };
    let local: Awaited<ReturnType<typeof fsStore>>;
    beforeEach(async () => {
      local = await fsStore();
    });
    afterEach(async () => {
      await local.close();
    });
    /** Resolves once the fetch of source (its import included) is over. */
    const over = (fetcher: ReturnType<typeof createBlobFetcher>, source: BlobSource) =>
      waitFor(() => fetcher.inFlightSize(upstream.host, source.digest) === undefined, () => 'the fetch to end');

    it('serves readers while the store imports the spool as it is written: no ingest, no file left, one upstream request', async () => {
      const source = await pushLayer(false, 5_000_000);
      const fetcher = createBlobFetcher({ store: local.store, logger, spoolDir: scratch.path, importsDir: local.importsDir });
      const [first, second, range] = await Promise.all([fetcher.open(source), fetcher.open(source), fetcher.open(source, { offset: 1000, length: 5000 })]);
      const [a, b, part] = await Promise.all([readAll(first.chunks), readAll(second.chunks), readAll(range.chunks)]);
      expect(a.equals(Buffer.from(blob.bytes))).toBe(true);
      expect(b.equals(Buffer.from(blob.bytes))).toBe(true);
      expect(part.equals(Buffer.from(blob.bytes).subarray(1000, 6000))).toBe(true);
      await over(fetcher, source);
      expect(await local.store.info(source.digest)).toMatchObject({
        size: blob.size,
        labels: { 'strata.registry.upstream': upstream.host, 'strata.registry.upstream-repository': source.repository },
      });
      expect(local.writers).toEqual([]);
      expect(readdirSync(local.importsDir)).toEqual([]);
      await upstream.settleRequestLog();
      expect(upstream.requestLog().filter((r) => r.method === 'GET' && r.path.includes(`/v2/${source.repository}/blobs/`))).toHaveLength(1);
    });

    it('holds the final byte back until the store\'s import verified it: a corrupted blob fails every reader and fetch(), and nothing is stored or left', async () => {
      const source = await pushLayer(true);
      const fetcher = createBlobFetcher({ store: local.store, logger, spoolDir: scratch.path, importsDir: local.importsDir });
      const reader = await fetcher.open(source);
      const got: Buffer[] = [];
      await expect(
        (async () => {
          for await (const chunk of reader.chunks) got.push(Buffer.from(chunk));
        })(),
      ).rejects.toMatchObject({ kind: 'FailedPrecondition', message: expect.stringContaining(mismatch(source)) });
      expect(Buffer.concat(got).length).toBeLessThan(blob.size);
      await over(fetcher, source);
      const pulled = await fetcher.fetch(source);
      await expect(pulled.wait()).rejects.toMatchObject({ kind: 'FailedPrecondition', message: expect.stringContaining(mismatch(source)) });
      await over(fetcher, source);
      await expect(local.store.info(source.digest)).rejects.toMatchObject({ kind: 'NotFound' });
      expect(readdirSync(local.importsDir)).toEqual([]);
    });

    it('stores a blob for fetch() through the import of its spool, without an ingest or the fetcher hashing it', async () => {
      const source = await pushLayer(false, 5_000_000);
      const fetcher = createBlobFetcher({ store: local.store, logger, spoolDir: scratch.path, importsDir: local.importsDir });
      const fetch = await fetcher.fetch(source);
      const progress: number[] = [];
      expect(await fetch.wait((received) => progress.push(received))).toBe(true);
      expect(progress.at(-1)).toBe(blob.size);
      expect(await local.store.info(source.digest)).toMatchObject({ size: blob.size, labels: { 'strata.registry.upstream': upstream.host } });
      expect((await readAll((await local.store.read(source.digest)).chunks)).equals(Buffer.from(blob.bytes))).toBe(true);
      expect(local.writers).toEqual([]);
      expect(readdirSync(local.importsDir)).toEqual([]);
    });

    it('fails fetch() when the store cannot import its spool: nothing else stores or checks the bytes', async () => {
      const source = await pushLayer();
      const failing: Store = { ...local.store, importFile: () => Promise.reject(internal('disk on fire')) };
      const fetcher = createBlobFetcher({ store: failing, logger, spoolDir: scratch.path, importsDir: local.importsDir });
      const fetch = await fetcher.fetch(source);
      await expect(fetch.wait()).rejects.toMatchObject({ kind: 'Unavailable', message: expect.stringContaining('the store did not take it (disk on fire)') });
      await over(fetcher, source);
      await expect(local.store.info(source.digest)).rejects.toMatchObject({ kind: 'NotFound' });
      expect(readdirSync(local.importsDir)).toEqual([]);
    });

    it('removes the spool when the upstream breaks off, so that the store gives its import up: nothing is stored or left', async () => {
      const bytes = randomBytes(3_000_000);
      const digest = digestOf(bytes);
      // An upstream that announces the whole blob, sends a third of it and hangs up.
      const server = createServer((req, res) => {
        if (!req.url?.includes('/blobs/')) return res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
        res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/octet-stream', 'docker-content-digest': digest });
        res.write(bytes.subarray(0, 1_000_000), () => setTimeout(() => res.destroy(), 50));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const breaking = createRegistryClient({ upstreams: [{ host }], logger, fetchTimeoutMs: 5000 });
      let imports = 0;
      const counting: Store = {
        ...local.store,
        importFile: (name, options) => {
          imports++;
          return local.store.importFile!(name, options);
        },
      };
      try {
        const fetcher = createBlobFetcher({ store: counting, logger, spoolDir: scratch.path, importsDir: local.importsDir });
        const source: BlobSource = { upstream: breaking.upstream(host), repository: 'team/breaks', digest, size: bytes.length };
        const reader = await fetcher.open(source);
        const pulled = await fetcher.fetch(source);
        await Promise.all([
          expect(readAll(reader.chunks)).rejects.toMatchObject({ kind: 'Unavailable' }),
          expect(pulled.wait()).rejects.toMatchObject({ kind: 'Unavailable' }),
        ]);
        await over(fetcher, source);
        expect(imports).toBe(1);
        await expect(local.store.info(digest)).rejects.toMatchObject({ kind: 'NotFound' });
        expect(readdirSync(local.importsDir)).toEqual([]);
      } finally {
        breaking.close();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('writes an ingest as before when no spool can be made in the imports directory', async () => {
      const source = await pushLayer();
      const fetcher = createBlobFetcher({ store: local.store, logger, spoolDir: scratch.path, importsDir: join(local.importsDir, 'missing') });
      const reader = await fetcher.open(source);
      expect((await readAll(reader.chunks)).equals(Buffer.from(blob.bytes))).toBe(true);
      await over(fetcher, source);
      expect(await local.store.info(source.digest)).toMatchObject({ size: blob.size });
      expect(local.writers).toEqual([`proxy-${digestHex(source.digest)}`]);
    });

    it('writes ingests from then on when the imports directory is read-only', async () => {
      const sources = [await pushLayer(), await pushLayer()];
      await run('mount', ['--bind', local.importsDir, local.importsDir]);
      try {
        await run('mount', ['-o', 'remount,ro,bind', local.importsDir]);
        const fetcher = createBlobFetcher({ store: local.store, logger, spoolDir: scratch.path, importsDir: local.importsDir });
        for (const source of sources) {
          const reader = await fetcher.open(source);
          await readAll(reader.chunks);
          await over(fetcher, source);
          expect(await local.store.info(source.digest)).toMatchObject({ digest: source.digest });
        }
        expect(local.writers).toEqual(sources.map((source) => `proxy-${digestHex(source.digest)}`));
      } finally {
        await run('umount', [local.importsDir]);
      }
    });

    it('stores the spool through an ingest, and writes ingests from then on, when the store imports no files', async () => {
      const sources: BlobSource[] = [];
      let imports = 0;
      const noImports: Store = {
        ...local.store,
        importFile: () => {
          imports++;
          return Promise.reject(unimplemented('this layer-store keeps no blob files on this host to import into'));
        },
      };
      const fetcher = createBlobFetcher({ store: noImports, logger, spoolDir: scratch.path, importsDir: local.importsDir });
      for (let i = 0; i < 2; i++) {
        const source = await pushLayer();
        sources.push(source);
        const reader = await fetcher.open(source);
        expect((await readAll(reader.chunks)).equals(Buffer.from(blob.bytes))).toBe(true);
        await over(fetcher, source);
        expect(await local.store.info(source.digest)).toMatchObject({ labels: { 'strata.registry.upstream': upstream.host } });
      }
      expect(imports).toBe(1);
      expect(local.writers).toEqual(sources.map((source) => `proxy-${digestHex(source.digest)}`));
      expect(readdirSync(local.importsDir)).toEqual([]);
    });

    it('serves the blob uncached when the store cannot import it, and a fetch() joining it learns that', async () => {
      const source = await pushLayer();
      const failing: Store = { ...local.store, importFile: () => Promise.reject(internal('disk on fire')) };
      const fetcher = createBlobFetcher({ store: failing, logger, spoolDir: scratch.path, importsDir: local.importsDir });
      const reader = await fetcher.open(source);
      const joined = await fetcher.fetch(source);
      const [read, stored] = await Promise.all([readAll(reader.chunks), joined.wait()]);
      expect(read.equals(Buffer.from(blob.bytes))).toBe(true);
      expect(stored).toBe(false);
      await expect(local.store.info(source.digest)).rejects.toMatchObject({ kind: 'NotFound' });
      expect(readdirSync(local.importsDir)).toEqual([]);
    });
  });
});
