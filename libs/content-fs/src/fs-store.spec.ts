import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import { digestHex, digestOf } from '@strata/oci';
import type { Store } from '@strata/content';
import { contentStoreSuite, expectError, randomBytesOf, readBlob, writeBlob } from '@strata/content/testing';
import { createFsContent } from './fs-content.js';
import { createFsStore } from './fs-store.js';
import { sharedHashPool } from './hash-pool.js';
import { ownerOf } from './ingest-lock.js';

contentStoreSuite('fs', async () => {
  const dir = tempDir('strata-content-fs-');
  try {
    const { store, leases } = await createFsContent({ root: dir.path, logger: silentLogger() });
    return {
      store,
      leases,
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          dir.remove();
        }
      },
    };
  } catch (err) {
    dir.remove();
    throw err;
  }
});

const mode = (path: string) => statSync(path).mode & 0o777;
const ingestDirOf = (root: string, ref: string) => join(root, 'ingest', createHash('sha256').update(ref).digest('hex'));
const openFds = () => readdirSync('/proc/self/fd').length;
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('fs content store', () => {
  let dir: { path: string; remove: () => void };
  let stores: Store[];
  let processes: TestProcess[];
  const open = async (importStallMs?: number): Promise<Store> => {
    const store = await createFsStore({ root: dir.path, logger: silentLogger(), ...(importStallMs === undefined ? {} : { importStallMs }) });
    stores.push(store);
    return store;
  };
  /** A pid that no process has any more. */
  const deadPid = async (): Promise<number> => {
    const p = startProcess('true', []);
    await p.exited;
    return p.pid;
  };

  beforeEach(() => {
    dir = tempDir('strata-content-fs-');
    stores = [];
    processes = [];
  });

  it('never shows a committed blob without the labels it was committed with', async () => {
    const store = await open();
    const blobs = Array.from({ length: 40 }, (_, i) => randomBytesOf(1024 + i));
    let writing = true;
    const seen = new Set<string>();
    const watcher = (async () => {
      while (writing) {
        for await (const info of store.walk()) {
          expect(info.labels, `blob ${info.digest}`).toEqual({ batch: 'one' });
          seen.add(info.digest);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    await Promise.all(blobs.map((data, i) => writeBlob(store, data, { ref: `atomic-${i}`, labels: { batch: 'one' } })));
    writing = false;
    await watcher;
    for (const data of blobs) expect((await store.info(digestOf(data))).labels).toEqual({ batch: 'one' });
  });

  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    for (const p of processes) await p.stop('SIGKILL');
    dir.remove();
  });

  it('lays blobs, ingests and labels out under the root with private modes', async () => {
    chmodSync(dir.path, 0o755);
    const store = await open();
    for (const d of ['.', 'blobs', 'blobs/sha256', 'ingest', 'metadata']) expect(mode(join(dir.path, d)), d).toBe(0o700);
    const data = Buffer.from('laid out');
    const info = await writeBlob(store, data, { labels: { role: 'test' } });
    const blobFile = join(dir.path, 'blobs', 'sha256', digestHex(info.digest));
    expect(readFileSync(blobFile).equals(data)).toBe(true);
    expect(mode(blobFile)).toBe(0o444);
    const labelFile = join(dir.path, 'metadata', 'labels', 'sha256', `${digestHex(info.digest)}.json`);
    expect(JSON.parse(readFileSync(labelFile, 'utf8'))).toMatchObject({ labels: { role: 'test' } });
    expect(mode(labelFile)).toBe(0o600);
    expect(mode(join(dir.path, 'metadata', 'labels'))).toBe(0o700);
    expect(info.createdAt.getTime()).toBe(Math.round(statSync(blobFile).mtimeMs));

    const w = await store.writer({ ref: 'layout/ref', total: 3 });
    await w.write(Buffer.from('abc'));
    const ingest = ingestDirOf(dir.path, 'layout/ref');
    expect(mode(ingest)).toBe(0o700);
    expect(readdirSync(ingest).sort()).toEqual(['data', 'lock', 'meta.json', 'ref']);
    expect(readFileSync(join(ingest, 'ref'), 'utf8')).toBe('layout/ref');
    expect(JSON.parse(readFileSync(join(ingest, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    expect(mode(join(ingest, 'data'))).toBe(0o600);
    await w.close();
    expect(readdirSync(ingest).sort()).toEqual(['data', 'meta.json', 'ref']);
    expect(readFileSync(join(ingest, 'data'), 'utf8')).toBe('abc');
    await (await store.writer({ ref: 'layout/ref' })).commit();
    expect(existsSync(ingest)).toBe(false);
  });

  it('resumes an ingest in a store opened later on the same root', async () => {
    const data = randomBytesOf(5 * 1024 * 1024 + 12345);
    const first = await open();
    const w = await first.writer({ ref: 'restart', total: data.length, expected: digestOf(data) });
    await w.write(data.subarray(0, 3 * 1024 * 1024 + 7));
    await first.close();
    const second = await open();
    expect((await second.status('restart')).offset).toBe(3 * 1024 * 1024 + 7);
    const again = await second.writer({ ref: 'restart' });
    expect(again.offset).toBe(3 * 1024 * 1024 + 7);
    await again.write(data.subarray(again.offset));
    expect((await again.commit()).digest).toBe(digestOf(data));
    expect((await readBlob(second, digestOf(data))).equals(data)).toBe(true);
  });

  it('two stores on one root exclude each other from a ref', async () => {
    const a = await open();
    const b = await open();
    const w = await a.writer({ ref: 'shared' });
    await w.write(Buffer.from('from a'));
    await expectError(b.writer({ ref: 'shared' }), 'Unavailable', 'ingest shared is locked by another writer; wait for it to finish');
    await expectError(b.abort('shared'), 'Unavailable', /shared is locked/);
    await w.close();
    const wb = await b.writer({ ref: 'shared' });
    expect(wb.offset).toBe(6);
    await expectError(a.writer({ ref: 'shared' }), 'Unavailable', /shared is locked/);
    await wb.close();
    await a.abort('shared');
    await expectError(b.status('shared'), 'NotFound', 'no ingest with ref shared');
  });

  describe('stale locks', () => {
    const plantLock = async (store: Store, ref: string, lock: string) => {
      const w = await store.writer({ ref });
      await w.write(Buffer.from('12345'));
      await w.close();
      writeFileSync(join(ingestDirOf(dir.path, ref), 'lock'), lock);
    };

    it.each([
      ['a process that exited', async () => JSON.stringify(await ownerOf(await deadPid()))],
      ['a reused pid (this process, started at another time)', async () => JSON.stringify({ ...(await ownerOf(process.pid)), start: '1' })],
      ['another boot', async () => JSON.stringify({ ...(await ownerOf(process.pid)), boot: 'another-boot' })],
      ['unreadable content', async () => 'not json'],
    ])('the lock of %s is broken and the ingest resumes', async (_name, makeLock) => {
      const store = await open();
      await plantLock(store, 'stale', await makeLock());
      const w = await store.writer({ ref: 'stale' });
      expect(w.offset).toBe(5);
      expect(JSON.parse(readFileSync(join(ingestDirOf(dir.path, 'stale'), 'lock'), 'utf8'))).toMatchObject({ pid: process.pid });
      await w.write(Buffer.from('678'));
      expect((await w.commit()).digest).toBe(digestOf('12345678'));
    });

    it('the lock of a live process holds until it ends', async () => {
      const store = await open();
      const holder = startProcess('sleep', ['30']);
      processes.push(holder);
      await plantLock(store, 'held', JSON.stringify(await ownerOf(holder.pid)));
      await expectError(store.writer({ ref: 'held' }), 'Unavailable', /held is locked/);
      await expectError(store.abort('held'), 'Unavailable', /held is locked/);
      await holder.stop('SIGKILL');
      const w = await store.writer({ ref: 'held' });
      expect(w.offset).toBe(5);
      await w.close();
    });
  });

  it('removes leftover temp files at startup, keeps ingests and the temp files of live processes', async () => {
    const first = await open();
    const w = await first.writer({ ref: 'kept' });
    await w.write(Buffer.from('kept bytes'));
    await w.close();
    await first.close();
    const dead = await deadPid();
    const live = startProcess('sleep', ['30']);
    processes.push(live);
    const ingest = ingestDirOf(dir.path, 'kept');
    mkdirSync(join(dir.path, 'metadata', 'labels', 'sha256'), { recursive: true });
    const hex = 'ab'.repeat(8);
    const stale = [
      join(dir.path, 'metadata', 'labels', 'sha256', `${'c'.repeat(64)}.json.${dead}.${hex}.tmp`),
      join(dir.path, 'metadata', `x.json.${dead}.${hex}.tmp`),
      join(ingest, `meta.json.${dead}.${hex}.tmp`),
      join(ingest, `lock.${dead}.${hex}.tmp`),
      join(ingest, `lock.${process.pid}.${'cd'.repeat(8)}.tmp`),
    ];
    const kept = [join(dir.path, 'metadata', `y.json.${live.pid}.${hex}.tmp`), join(ingest, `lock.${process.pid}.${'ef'.repeat(8)}.tmp`)];
    for (const f of [...stale, ...kept]) writeFileSync(f, '{}');
    const old = new Date(Date.now() - (process.uptime() + 60) * 1000);
    utimesSync(stale[4]!, old, old);
    const store = await open();
    for (const f of stale) expect(existsSync(f), f).toBe(false);
    for (const f of kept) expect(existsSync(f), f).toBe(true);
    const resumed = await store.writer({ ref: 'kept' });
    expect(resumed.offset).toBe(10);
    await resumed.close();
  });

  it('drops ingest data that a crash during commit left linked to the stored blob', async () => {
    const store = await open();
    const data = Buffer.from('committed, then crashed');
    const w = await store.writer({ ref: 'crashed' });
    await w.write(data);
    await w.close();
    const ingestData = join(ingestDirOf(dir.path, 'crashed'), 'data');
    const blobFile = join(dir.path, 'blobs', 'sha256', digestHex(digestOf(data)));
    chmodSync(ingestData, 0o444);
    linkSync(ingestData, blobFile);
    const again = await store.writer({ ref: 'crashed' });
    expect(again.offset).toBe(0);
    await again.write(Buffer.from('something else entirely'));
    await again.close();
    expect(readFileSync(blobFile).equals(data)).toBe(true);
    expect((await store.info(digestOf(data))).size).toBe(data.length);
  });

  it('starts over when an ingest lost its meta.json', async () => {
    const store = await open();
    const w = await store.writer({ ref: 'half' });
    await w.write(Buffer.from('half-created'));
    await w.close();
    writeFileSync(join(ingestDirOf(dir.path, 'half'), 'meta.json'), '{"trunc');
    await expectError(store.status('half'), 'NotFound', 'no ingest with ref half');
    const again = await store.writer({ ref: 'half', total: 2 });
    expect(again.offset).toBe(0);
    await again.write(Buffer.from('ok'));
    expect((await again.commit()).digest).toBe(digestOf('ok'));
  });

  it('ignores stray files among the blobs', async () => {
    const store = await open();
    const info = await writeBlob(store, Buffer.from('real'));
    writeFileSync(join(dir.path, 'blobs', 'sha256', 'not-a-digest'), 'x');
    mkdirSync(join(dir.path, 'blobs', 'sha256', 'f'.repeat(64)));
    const seen: string[] = [];
    for await (const i of store.walk()) seen.push(i.digest);
    expect(seen).toEqual([info.digest]);
    await expectError(store.info(`sha256:${'f'.repeat(64)}` as typeof info.digest), 'NotFound');
  });

  it('closes every file it opens, on every path', async () => {
    const store = await open();
    const data = randomBytesOf(3 * 1024 * 1024);
    const info = await writeBlob(store, data);
    // The hashing workers, started on demand, hold descriptors of their own: start them all first.
    const warm = await Promise.all([0, 1, 2, 3].map((i) => store.writer({ ref: `fd-warm-${i}` })));
    for (const w of warm) await w.close();
    await settle();
    const before = openFds();
    for (let i = 0; i < 5; i++) {
      const reader = await store.read(info.digest, { offset: i });
      for await (const chunk of reader.chunks) {
        expect(chunk.length).toBeGreaterThan(0);
        break;
      }
      await store.read(info.digest);
      const w = await store.writer({ ref: `fd-${i}`, expected: digestOf(`other ${i}`) });
      await w.write(Buffer.from('x'));
      await expectError(w.commit(), 'FailedPrecondition');
      const again = await store.writer({ ref: `fd-again-${i}` });
      await again.write(data);
      await expectError(again.commit(), 'AlreadyExists');
      const kept = await store.writer({ ref: `fd-kept-${i}` });
      await kept.write(Buffer.from('y'));
      await kept.truncate();
      await kept.close();
      await expectError(store.writer({ ref: 'bad ref' }), 'InvalidArgument');
    }
    await settle();
    expect(openFds()).toBe(before);
  });

  it('has a hashing worker running from open until the last store closes', async () => {
    expect(sharedHashPool().running).toBe(0);
    const first = await open();
    expect(sharedHashPool().running).toBe(1);
    const second = await open();
    await first.close();
    expect(sharedHashPool().running).toBe(1);
    await writeBlob(second, randomBytesOf(3 * 1024 * 1024));
    await second.close();
    expect(sharedHashPool().running).toBe(0);
  });

  it('hard-links nothing but verified blobs', async () => {
    const store = await open();
    const w = await store.writer({ ref: 'verified', expected: digestOf('wanted') });
    await w.write(Buffer.from('unwanted'));
    await expectError(w.commit(), 'FailedPrecondition');
    expect(readdirSync(join(dir.path, 'blobs', 'sha256'))).toEqual([]);
    expect(readdirSync(join(dir.path, 'ingest'))).toEqual([]);
  });

  describe('importFile', () => {
    const imports = () => join(dir.path, 'imports');
    const plant = (name: string, data: Buffer | string) => {
      writeFileSync(join(imports(), name), data, { mode: 0o600 });
      return name;
    };

    it('stores a file of imports/ as the blob, labelled and read-only, and takes the file over', async () => {
      const store = await open();
      expect(mode(imports())).toBe(0o700);
      const data = randomBytesOf(3 * 1024 * 1024 + 5);
      const name = plant('fetched-1', data);
      const info = await store.importFile!(name, { expected: digestOf(data), total: data.length, labels: { from: 'import' } });
      expect(info).toMatchObject({ digest: digestOf(data), size: data.length, labels: { from: 'import' } });
      expect((await readBlob(store, digestOf(data))).equals(data)).toBe(true);
      expect((await store.info(digestOf(data))).labels).toEqual({ from: 'import' });
      expect(mode(join(dir.path, 'blobs', 'sha256', digestHex(digestOf(data))))).toBe(0o444);
      expect(readdirSync(imports())).toEqual([]);
    });

    it('refuses a file whose digest or size is not the expected one, storing nothing and removing it', async () => {
      const store = await open();
      const data = Buffer.from('the bytes on disk');
      await expectError(
        store.importFile!(plant('wrong-digest', data), { expected: digestOf('other bytes'), total: data.length }),
        'FailedPrecondition',
        `import of wrong-digest failed: got digest ${digestOf(data)}, expected ${digestOf('other bytes')}`,
      );
      await expectError(
        store.importFile!(plant('wrong-size', data), { expected: digestOf(data), total: data.length + 1 }),
        'FailedPrecondition',
        `import of wrong-size failed: it has ${data.length} bytes, expected ${data.length + 1}`,
      );
      expect(readdirSync(join(dir.path, 'blobs', 'sha256'))).toEqual([]);
      expect(readdirSync(imports())).toEqual([]);
    });

    it('answers AlreadyExists for a blob it holds, and removes the file', async () => {
      const store = await open();
      const data = Buffer.from('stored twice');
      await writeBlob(store, data);
      await expectError(store.importFile!(plant('again', data), { expected: digestOf(data), total: data.length }), 'AlreadyExists', `blob ${digestOf(data)} already exists`);
      expect(readdirSync(imports())).toEqual([]);
    });

    it('takes plain file names of imports/ only: no path, no symbolic link, no missing file', async () => {
      const store = await open();
      const secret = join(dir.path, 'secret');
      writeFileSync(secret, 'not for the store');
      const options = { expected: digestOf('not for the store'), total: 17 };
      for (const name of ['../secret', '/etc/passwd', '.hidden', '', 'a/b']) {
        await expectError(store.importFile!(name, options), 'InvalidArgument', /invalid import file name/);
      }
      symlinkSync(secret, join(imports(), 'link'));
      await expectError(store.importFile!('link', options), 'InvalidArgument', 'cannot import link: it is a symbolic link, not a file');
      await expectError(store.importFile!('absent', options), 'NotFound', `no file absent to import in ${imports()}`);
      expect(readdirSync(join(dir.path, 'blobs', 'sha256'))).toEqual([]);
      expect(readdirSync(imports())).toEqual([]);
      expect(readFileSync(secret, 'utf8')).toBe('not for the store');
    });

    describe('growing', () => {
      /** An empty file of imports/ open for appending, as a writer in another process holds it. */
      const begin = async (name: string) => ({ name, fh: await openFile(join(imports(), name), 'wx', 0o600) });
      const pieces = (data: Buffer, n: number) => Array.from({ length: n }, (_, i) => data.subarray(Math.floor((i * data.length) / n), Math.floor(((i + 1) * data.length) / n)));

      it('stores a file as its writer appends to it, and takes it over once it holds every byte', async () => {
        const store = await open();
        const data = randomBytesOf(21 * 1024 * 1024 + 3);
        const { name, fh } = await begin('growing-1');
        const importing = store.importFile!(name, { expected: digestOf(data), total: data.length, labels: { from: 'growing' }, growing: true });
        let settled = false;
        void importing.finally(() => (settled = true)).catch(() => undefined);
        for (const piece of pieces(data, 7)) {
          await settle();
          expect(settled).toBe(false);
          await fh.write(piece);
        }
        await fh.close();
        expect(await importing).toMatchObject({ digest: digestOf(data), size: data.length, labels: { from: 'growing' } });
        expect((await readBlob(store, digestOf(data))).equals(data)).toBe(true);
        expect(readdirSync(imports())).toEqual([]);
      });

      it('fails once its writer removes the file, storing nothing; a second import of the file is refused meanwhile', async () => {
        const store = await open();
        const data = randomBytesOf(64 * 1024);
        const { name, fh } = await begin('given-up');
        const importing = store.importFile!(name, { expected: digestOf(data), total: data.length, growing: true });
        await fh.write(data.subarray(0, 1000));
        await settle();
        await expectError(store.importFile!(name, { expected: digestOf(data), total: data.length, growing: true }), 'FailedPrecondition', 'given-up is being imported already');
        unlinkSync(join(imports(), name));
        await expectError(importing, 'FailedPrecondition', 'import of given-up failed: its writer removed or cut it after 1000 of 65536 bytes');
        await fh.close();
        expect(readdirSync(join(dir.path, 'blobs', 'sha256'))).toEqual([]);
      });

      it('fails when the file gains no bytes for the stall time, and when it ends up longer or other than expected', async () => {
        const store = await open(100);
        // Not a whole number of pages: a reader never sees the size of a longer write stop at exactly this many bytes.
        const data = randomBytesOf(300 * 1024 + 1);
        const stalled = await begin('stalled');
        await stalled.fh.write(data.subarray(0, 4096));
        await expectError(
          store.importFile!(stalled.name, { expected: digestOf(data), total: data.length, growing: true }),
          'Unavailable',
          `import of stalled failed: it gained no bytes for 100 ms after 4096 of ${data.length}`,
        );
        await stalled.fh.close();

        const longer = await begin('longer');
        const importing = store.importFile!(longer.name, { expected: digestOf(data), total: data.length, growing: true });
        await longer.fh.write(Buffer.concat([data, Buffer.from('one more')]));
        await longer.fh.close();
        await expectError(importing, 'FailedPrecondition', `import of longer failed: it has ${data.length + 8} bytes, expected ${data.length}`);

        const other = await begin('other');
        const wrong = Buffer.from(data);
        wrong.writeUInt8(wrong.readUInt8(wrong.length - 1) ^ 1, wrong.length - 1);
        const importingOther = store.importFile!(other.name, { expected: digestOf(data), total: data.length, growing: true });
        await other.fh.write(wrong);
        await other.fh.close();
        await expectError(importingOther, 'FailedPrecondition', `import of other failed: got digest ${digestOf(wrong)}, expected ${digestOf(data)}`);
        expect(readdirSync(join(dir.path, 'blobs', 'sha256'))).toEqual([]);
        expect(readdirSync(imports())).toEqual([]);
      });
    });

    it('removes the import files of processes that are gone at startup, keeps those of live ones', async () => {
      await (await open()).close();
      const dead = await deadPid();
      const live = startProcess('sleep', ['30']);
      processes.push(live);
      const hex = 'cd'.repeat(8);
      plant(`proxy-1.${dead}.${hex}.tmp`, 'left by a crash');
      plant(`proxy-2.${live.pid}.${hex}.tmp`, 'being written');
      await open();
      expect(readdirSync(imports())).toEqual([`proxy-2.${live.pid}.${hex}.tmp`]);
    });
  });
});
