import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { digestOf, parseDigest, type Digest } from '@strata/oci';
import { parseFilters } from '../filters.js';
import { collectGarbage, GC_REF_CONTENT_PREFIX, GC_ROOT_LABEL } from '../gc.js';
import type { LeaseManager, Store, Writer } from '../store.js';
import type { Info, WriterOptions } from '../types.js';
import { applyLabelUpdate, MAX_LABEL_BYTES, validateRef } from '../validate.js';
import { expectError, messageOf } from './expect-error.js';
import { findInfo, readBlob } from '../blob-bytes.js';
import { randomBytesOf, writeBlob } from './write-blob.js';

/** What contentStoreSuite's setup returns: a fresh, empty store and its leases. */
export interface ContentStoreFixture {
  store: Store;
  /** Leases whose held digests the store's garbage collection honours. */
  leases: LeaseManager;
  /** Closes the store and removes everything setup created. */
  cleanup: () => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const sorted = (digests: Iterable<string>) => [...digests].sort();
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const mentions = (...parts: Array<string | number>) => new RegExp(parts.map((p) => `(?=[\\s\\S]*${escape(String(p))})`).join(''));

const BAD_DIGESTS: ReadonlyArray<[string, string]> = [
  ['a path escape', 'sha256:../../etc/passwd'],
  ['a short hex', `sha256:${'a'.repeat(63)}`],
  ['a long hex', `sha256:${'a'.repeat(65)}`],
  ['upper-case hex', `sha256:${'A'.repeat(64)}`],
  ['another algorithm', `md5:${'a'.repeat(32)}`],
  ['no algorithm', 'a'.repeat(64)],
  ['an empty string', ''],
];

const BAD_REFS: ReadonlyArray<[string, string]> = [
  ['an empty ref', ''],
  ['a parent escape', '../escape'],
  ['an inner parent', 'a/../../b'],
  ['an absolute path', '/etc/passwd'],
  ['a space', 'has space'],
  ['a NUL byte', 'nul\u0000byte'],
  ['non-ASCII', 'ünïcode'],
  ['257 characters', 'r'.repeat(257)],
];

/**
 * The contract of {@link Store} (and of the LeaseManager next to it), in the
 * spirit of containerd's ContentSuite: run it against every implementation —
 * fs, S3, and each of them through gRPC. setup runs before every test and
 * must return an empty store; cleanup runs after it, even when it failed.
 *
 * Messages the suite relies on: parseDigest's and validateRef's exactly for
 * malformed input; NotFound names the digest or ref; OutOfRange names the
 * offset; FailedPrecondition on commit names the expected and actual size or
 * digest; AlreadyExists names the digest; Unavailable names the ref. A
 * writer that was committed or closed raises FailedPrecondition on write, and
 * close() after commit is a no-op. createdAt must have millisecond precision
 * (garbage collection keeps blobs created after it started).
 */
export function contentStoreSuite(name: string, setup: () => Promise<ContentStoreFixture>): void {
  // Generous: backends run through gRPC, fsync and share two cores with the rest of the suite.
  describe(`content store contract: ${name}`, { timeout: 30_000 }, () => {
    let fixture: ContentStoreFixture | undefined;
    let opened: Writer[] = [];
    const store = (): Store => fixture!.store;
    const leases = (): LeaseManager => fixture!.leases;
    const open = async (options: WriterOptions): Promise<Writer> => {
      const w = await store().writer(options);
      opened.push(w);
      return w;
    };
    const digests = async (filters?: readonly string[]): Promise<string[]> => {
      const out: string[] = [];
      for await (const info of store().walk(filters)) out.push(info.digest);
      return out.sort();
    };
    const text = (s: string) => Buffer.from(s, 'utf8');

    beforeEach(async () => {
      opened = [];
      fixture = await setup();
    });

    afterEach(async () => {
      const f = fixture;
      fixture = undefined;
      for (const w of opened) await w.close().catch(() => undefined);
      opened = [];
      await f?.cleanup();
    });

    describe('writing and reading', () => {
      it('writes, commits and reads back a blob', async () => {
        const data = randomBytesOf(100_000);
        const digest = digestOf(data);
        const before = Date.now();
        const w = await open({ ref: 'suite-basic', total: data.length, expected: digest });
        expect(w.ref).toBe('suite-basic');
        expect(w.offset).toBe(0);
        await w.write(data.subarray(0, 40_000));
        await w.write(data.subarray(40_000, 40_001));
        await w.write(data.subarray(40_001));
        expect(w.offset).toBe(data.length);
        const st = await w.status();
        expect(st).toMatchObject({ ref: 'suite-basic', offset: data.length, total: data.length, expected: digest });
        const info = await w.commit();
        expect(info).toMatchObject({ digest, size: data.length, labels: {} });
        expect(info.createdAt.getTime()).toBeGreaterThanOrEqual(before - 5000);
        expect(info.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 5000);
        expect(info.updatedAt.getTime()).toBeGreaterThanOrEqual(info.createdAt.getTime());
        const reader = await store().read(digest);
        expect(reader.size).toBe(data.length);
        const parts: Buffer[] = [];
        for await (const chunk of reader.chunks) parts.push(Buffer.from(chunk));
        expect(Buffer.concat(parts).equals(data)).toBe(true);
        expect(await store().info(digest)).toEqual(info);
        await expectError(store().status('suite-basic'), 'NotFound', mentions('suite-basic'));
      });

      it('commits without an announced total or digest, and verifies what commit is told', async () => {
        const data = text('no announcement');
        const w = await open({ ref: 'suite-plain' });
        await w.write(data);
        expect((await w.status()).total).toBe(0);
        expect((await w.status()).expected).toBeUndefined();
        const info = await w.commit({ total: data.length, expected: digestOf(data) });
        expect(info.digest).toBe(digestOf(data));
        expect((await readBlob(store(), info.digest)).equals(data)).toBe(true);
      });

      it('stores an empty blob', async () => {
        const info = await writeBlob(store(), new Uint8Array(0), { total: false });
        expect(info).toMatchObject({ digest: digestOf(''), size: 0 });
        const reader = await store().read(info.digest);
        expect(reader.size).toBe(0);
        expect((await readBlob(store(), info.digest)).length).toBe(0);
      });

      it('closes a committed writer: writes fail, close is a no-op', async () => {
        const w = await open({ ref: 'suite-closed' });
        await w.write(text('x'));
        await w.commit();
        await expectError(w.write(text('y')), 'FailedPrecondition', mentions('suite-closed'));
        await w.close();
        const other = await open({ ref: 'suite-closed' });
        expect(other.offset).toBe(0);
      });

      const data1000 = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) % 256));
      it.each([
        ['everything', {}, 0, 1000],
        ['from an offset to the end', { offset: 10 }, 10, 1000],
        ['a middle range', { offset: 10, length: 20 }, 10, 30],
        ['the last byte', { offset: 999, length: 1 }, 999, 1000],
        ['a length past the end (clamped)', { offset: 990, length: 100 }, 990, 1000],
        ['length 0 (to the end)', { offset: 500, length: 0 }, 500, 1000],
        ['offset at the end (empty)', { offset: 1000 }, 1000, 1000],
      ])('reads %s', async (_name, range, start, end) => {
        const info = await writeBlob(store(), data1000);
        const reader = await store().read(info.digest, range);
        expect(reader.size).toBe(1000);
        const parts: Buffer[] = [];
        for await (const chunk of reader.chunks) parts.push(Buffer.from(chunk));
        expect(Buffer.concat(parts).equals(data1000.subarray(start, end))).toBe(true);
      });

      it.each([1001, 5000])('read from offset %i of a 1000-byte blob is OutOfRange', async (offset) => {
        const info = await writeBlob(store(), data1000);
        await expectError(store().read(info.digest, { offset }), 'OutOfRange', mentions(offset));
      });

      it.each([
        ['a negative offset', { offset: -1 }, /offset/],
        ['a negative length', { length: -5 }, /length/],
      ])('read with %s is InvalidArgument', async (_name, range, message) => {
        const info = await writeBlob(store(), data1000);
        await expectError(store().read(info.digest, range), 'InvalidArgument', message);
      });

      const absent = digestOf('never stored');
      it.each([
        ['read', (s: Store) => s.read(absent)],
        ['info', (s: Store) => s.info(absent)],
        ['delete', (s: Store) => s.delete(absent)],
        ['update', (s: Store) => s.update(absent, { a: 'b' })],
      ])('%s of an absent blob is NotFound naming the digest', async (_op, call) => {
        await expectError(call(store()), 'NotFound', mentions(absent));
      });

      it('find (through findInfo) answers an absent blob with undefined and a stored one with its info; a malformed digest is InvalidArgument', async () => {
        const info = await writeBlob(store(), data1000, { labels: { a: 'b' } });
        expect(await findInfo(store(), absent)).toBeUndefined();
        expect(await findInfo(store(), info.digest)).toEqual(await store().info(info.digest));
        await expectError(findInfo(store(), 'sha256:../..' as Digest), 'InvalidArgument');
      });

      it('round-trips a 20 MiB blob written in uneven chunks', async () => {
        const data = randomBytesOf(20 * 1024 * 1024);
        const digest = digestOf(data);
        const info = await writeBlob(store(), data, { chunks: [1, 7919, 65_537, 1_048_573, 262_147, 3, 2_097_169] });
        expect(info).toMatchObject({ digest, size: data.length });
        const back = await readBlob(store(), digest);
        expect(back.length).toBe(data.length);
        expect(digestOf(back)).toBe(digest);
        const middle = await readBlob(store(), digest, { offset: 5_000_001, length: 3_000_017 });
        expect(middle.equals(data.subarray(5_000_001, 8_000_018))).toBe(true);
      });

      it('lets 16 writers of distinct blobs work at once', async () => {
        const blobs = Array.from({ length: 16 }, () => randomBytesOf(256 * 1024));
        const infos = await Promise.all(
          blobs.map((b, i) => writeBlob(store(), b, { ref: `suite-parallel-${i}`, chunks: [64 * 1024 + i] })),
        );
        expect(infos.map((i) => i.digest)).toEqual(blobs.map((b) => digestOf(b)));
        expect(await digests()).toEqual(sorted(blobs.map((b) => digestOf(b))));
        for (const [i, b] of blobs.entries()) expect((await readBlob(store(), infos[i]!.digest)).equals(b)).toBe(true);
        expect(await store().listStatuses()).toEqual([]);
      });
    });

    describe('commit verification', () => {
      it.each([
        ['announced when opening', true],
        ['given to commit', false],
      ])('a wrong digest %s is FailedPrecondition and stores nothing', async (_name, atOpen) => {
        const data = text('the real bytes');
        const wrong = digestOf('other bytes');
        const w = await open(atOpen ? { ref: 'suite-wrong-digest', expected: wrong } : { ref: 'suite-wrong-digest' });
        await w.write(data);
        await expectError(w.commit(atOpen ? {} : { expected: wrong }), 'FailedPrecondition', mentions(wrong, digestOf(data)));
        await expectError(store().info(wrong), 'NotFound');
        await expectError(store().info(digestOf(data)), 'NotFound');
        expect(await digests()).toEqual([]);
        await expectError(store().status('suite-wrong-digest'), 'NotFound');
        expect(await store().listStatuses()).toEqual([]);
      });

      it.each([
        ['more than written, announced when opening', { total: 20 }, {}, 20],
        ['more than written, given to commit', {}, { total: 20 }, 20],
        ['less than written, given to commit', {}, { total: 5 }, 5],
      ])('a total %s is FailedPrecondition and stores nothing', async (_name, openOptions, commitOptions, total) => {
        const data = text('twelve bytes');
        const w = await open({ ref: 'suite-wrong-size', ...openOptions });
        await w.write(data);
        await expectError(w.commit(commitOptions), 'FailedPrecondition', mentions(total, data.length));
        expect(await digests()).toEqual([]);
        await expectError(store().status('suite-wrong-size'), 'NotFound');
      });

      it('committing a stored digest again is AlreadyExists, discards the ingest and keeps the labels', async () => {
        const data = text('stored once');
        const first = await writeBlob(store(), data, { labels: { keep: 'me' } });
        const w = await open({ ref: 'suite-again' });
        await w.write(data);
        await expectError(w.commit({ labels: { other: 'x' } }), 'AlreadyExists', mentions(first.digest));
        await expectError(store().status('suite-again'), 'NotFound');
        expect((await store().info(first.digest)).labels).toEqual({ keep: 'me' });
      });

      it('opening a writer that expects a stored digest is AlreadyExists and opens nothing', async () => {
        const info = await writeBlob(store(), text('already here'));
        await expectError(store().writer({ ref: 'suite-exists', expected: info.digest }), 'AlreadyExists', mentions(info.digest));
        await expectError(store().status('suite-exists'), 'NotFound');
      });

      it('a write past the announced total is FailedPrecondition and appends nothing', async () => {
        const data = text('0123456789');
        const w = await open({ ref: 'suite-overflow', total: 10, expected: digestOf(data) });
        await w.write(data.subarray(0, 8));
        await expectError(w.write(text('89X')), 'FailedPrecondition', mentions(10));
        await w.close();
        expect((await store().status('suite-overflow')).offset).toBe(8);
        const again = await open({ ref: 'suite-overflow' });
        expect(again.offset).toBe(8);
        await again.write(data.subarray(8));
        expect((await again.commit()).digest).toBe(digestOf(data));
      });
    });

    describe('ingests', () => {
      it('a second writer of a ref is Unavailable while the first is open', async () => {
        const w = await open({ ref: 'suite-locked' });
        await w.write(text('abc'));
        await expectError(store().writer({ ref: 'suite-locked' }), 'Unavailable', mentions('suite-locked'));
        await expectError(store().abort('suite-locked'), 'Unavailable', mentions('suite-locked'));
        await w.close();
        const next = await open({ ref: 'suite-locked' });
        expect(next.offset).toBe(3);
      });

      it('resumes an ingest where it stopped', async () => {
        const data = randomBytesOf(300_000);
        const digest = digestOf(data);
        const first = await open({ ref: 'suite-resume', total: data.length, expected: digest });
        await first.write(data.subarray(0, 123_457));
        await first.close();
        const st = await store().status('suite-resume');
        expect(st).toMatchObject({ ref: 'suite-resume', offset: 123_457, total: data.length, expected: digest });
        const second = await open({ ref: 'suite-resume' });
        expect(second.offset).toBe(123_457);
        expect(await second.status()).toMatchObject({ offset: 123_457, total: data.length, expected: digest });
        await second.write(data.subarray(123_457));
        const info = await second.commit();
        expect(info).toMatchObject({ digest, size: data.length });
        expect((await readBlob(store(), digest)).equals(data)).toBe(true);
      });

      it('truncate starts the ingest over', async () => {
        const w = await open({ ref: 'suite-truncate' });
        await w.write(text('discarded bytes'));
        await w.truncate();
        expect(w.offset).toBe(0);
        expect((await w.status()).offset).toBe(0);
        const kept = text('kept');
        await w.write(kept);
        const info = await w.commit();
        expect(info).toMatchObject({ digest: digestOf(kept), size: kept.length });
        expect((await readBlob(store(), info.digest)).equals(kept)).toBe(true);
      });

      it('reports ingests by ref, and lists them with filters', async () => {
        const expected = digestOf('x');
        for (const ref of ['suite/a-1', 'suite/a-2', 'other/b']) {
          const w = await open({ ref, total: 100, expected });
          await w.write(text(ref));
          await w.close();
        }
        const st = await store().status('suite/a-1');
        expect(st).toMatchObject({ ref: 'suite/a-1', offset: 9, total: 100, expected });
        expect(st.startedAt).toBeInstanceOf(Date);
        expect(st.updatedAt.getTime()).toBeGreaterThanOrEqual(st.startedAt.getTime() - 1000);
        const refs = async (filters?: string[]) => (await store().listStatuses(filters)).map((s) => s.ref).sort();
        expect(await refs()).toEqual(['other/b', 'suite/a-1', 'suite/a-2']);
        expect(await refs(['ref==suite/a-1'])).toEqual(['suite/a-1']);
        expect(await refs(['ref~=^suite/'])).toEqual(['suite/a-1', 'suite/a-2']);
        expect(await refs(['ref!=other/b', 'ref~=2$'])).toEqual(['suite/a-2']);
        await expectError(store().status('suite/a-3'), 'NotFound', mentions('suite/a-3'));
        await expectError(store().listStatuses(['ref~=(']), 'InvalidArgument', messageOf(() => parseFilters(['ref~=('])));
      });

      it('abort discards an ingest; NotFound for an unknown ref', async () => {
        const w = await open({ ref: 'suite-abort' });
        await w.write(text('to be discarded'));
        await w.close();
        await store().abort('suite-abort');
        await expectError(store().status('suite-abort'), 'NotFound');
        expect(await store().listStatuses()).toEqual([]);
        await expectError(store().abort('suite-abort'), 'NotFound', mentions('suite-abort'));
        const again = await open({ ref: 'suite-abort' });
        expect(again.offset).toBe(0);
      });
    });

    describe('labels and listing', () => {
      it('keeps labels given at commit and replaces them on update', async () => {
        const info = await writeBlob(store(), text('labelled'), { labels: { a: '1', b: '2' } });
        expect(info.labels).toEqual({ a: '1', b: '2' });
        expect((await store().info(info.digest)).labels).toEqual({ a: '1', b: '2' });
        await sleep(5);
        const updated = await store().update(info.digest, { c: '3' });
        expect(updated).toMatchObject({ digest: info.digest, size: info.size, labels: { c: '3' } });
        expect(updated.createdAt.getTime()).toBe(info.createdAt.getTime());
        expect(updated.updatedAt.getTime()).toBeGreaterThan(info.updatedAt.getTime());
        expect(await store().info(info.digest)).toEqual(updated);
      });

      it.each([
        ['a field path sets one label', ['labels.b'], { b: 'new', z: 'ignored' }, { a: '1', b: 'new', c: '3' }],
        ['a field path of a label absent from the update removes it', ['labels.a'], {}, { b: '2', c: '3' }],
        ['several field paths', ['labels.a', 'labels.d'], { d: '4' }, { b: '2', c: '3', d: '4' }],
        ['"labels" replaces all', ['labels'], { x: 'y' }, { x: 'y' }],
        ['no field paths replaces all', [], { x: 'y' }, { x: 'y' }],
        ['an empty update removes all', [], {}, {}],
      ])('update: %s', async (_name, paths, labels, expected) => {
        const info = await writeBlob(store(), text('update by path'), { labels: { a: '1', b: '2', c: '3' } });
        expect((await store().update(info.digest, labels, paths)).labels).toEqual(expected);
        expect((await store().info(info.digest)).labels).toEqual(expected);
      });

      it.each([
        ['a field other than labels', { a: '1' }, ['size']],
        ['an empty label key in a path', { a: '1' }, ['labels.']],
        ['a label over the size limit', { big: 'v'.repeat(MAX_LABEL_BYTES) }, []],
      ])('update with %s is InvalidArgument and changes nothing', async (_name, labels, paths) => {
        const info = await writeBlob(store(), text('bad update'), { labels: { keep: 'yes' } });
        const message = messageOf(() => applyLabelUpdate({ keep: 'yes' }, labels, paths));
        await expectError(store().update(info.digest, labels, paths), 'InvalidArgument', message);
        expect((await store().info(info.digest)).labels).toEqual({ keep: 'yes' });
      });

      it('walks blobs with filters', async () => {
        const layer = await writeBlob(store(), text('layer'), { labels: { kind: 'layer', pinned: 'yes' } });
        const config = await writeBlob(store(), text('config!'), { labels: { kind: 'config' } });
        const bare = await writeBlob(store(), text('bare'));
        expect(await digests()).toEqual(sorted([layer.digest, config.digest, bare.digest]));
        expect(await digests([])).toEqual(sorted([layer.digest, config.digest, bare.digest]));
        expect(await digests(['labels.kind==layer'])).toEqual([layer.digest]);
        expect(await digests(['labels.kind!=layer'])).toEqual(sorted([config.digest, bare.digest]));
        expect(await digests(['labels.pinned'])).toEqual([layer.digest]);
        expect(await digests(['labels.kind'])).toEqual(sorted([layer.digest, config.digest]));
        expect(await digests([`digest~=^${config.digest.slice(0, 15)}`])).toEqual([config.digest]);
        expect(await digests([`digest==${bare.digest}`])).toEqual([bare.digest]);
        expect(await digests(['size==7'])).toEqual([config.digest]);
        expect(await digests(['labels.kind~=^(layer|config)$', 'labels.pinned'])).toEqual([layer.digest]);
        expect(await digests(['labels.kind==none'])).toEqual([]);
        const seen: Info[] = [];
        for await (const info of store().walk(['labels.kind==layer'])) seen.push(info);
        expect(seen).toEqual([await store().info(layer.digest)]);
        await expectError(digests(['labels.kind~=[']), 'InvalidArgument', messageOf(() => parseFilters(['labels.kind~=['])));
      });

      it('delete removes a blob, its listing and its labels', async () => {
        const data = text('short-lived');
        const info = await writeBlob(store(), data, { labels: { old: 'label' } });
        const other = await writeBlob(store(), text('stays'));
        await store().delete(info.digest);
        await expectError(store().info(info.digest), 'NotFound', mentions(info.digest));
        await expectError(store().read(info.digest), 'NotFound', mentions(info.digest));
        await expectError(store().delete(info.digest), 'NotFound', mentions(info.digest));
        expect(await digests()).toEqual([other.digest]);
        const again = await writeBlob(store(), data);
        expect(again.labels).toEqual({});
        expect((await store().info(info.digest)).labels).toEqual({});
      });
    });

    describe('malformed input', () => {
      it.each(BAD_DIGESTS)('a digest with %s is InvalidArgument with parseDigest\'s message', async (_name, bad) => {
        const message = messageOf(() => parseDigest(bad));
        const d = bad as Digest;
        await expectError(store().read(d), 'InvalidArgument', message);
        await expectError(store().info(d), 'InvalidArgument', message);
        await expectError(store().delete(d), 'InvalidArgument', message);
        await expectError(store().update(d, { a: 'b' }), 'InvalidArgument', message);
        if (bad !== '') await expectError(store().writer({ ref: 'suite-bad-digest', expected: d }), 'InvalidArgument', message);
        await expectError(leases().addResource('no-such-lease', d), 'InvalidArgument', message);
        await expectError(leases().addResources('no-such-lease', [digestOf('good'), d]), 'InvalidArgument', message);
      });

      it.each(BAD_REFS)('a ref with %s is InvalidArgument with validateRef\'s message', async (_name, bad) => {
        const message = messageOf(() => validateRef(bad));
        await expectError(store().writer({ ref: bad }), 'InvalidArgument', message);
        await expectError(store().status(bad), 'InvalidArgument', message);
        await expectError(store().abort(bad), 'InvalidArgument', message);
        expect(await store().listStatuses()).toEqual([]);
      });
    });

    describe('garbage collection and leases', () => {
      const gc = (dryRun = false) => collectGarbage({ store: store(), leases: leases(), logger: silentLogger(), dryRun });

      it('keeps roots, what they reference and what leases hold; deletes the rest', async () => {
        const grandchild = await writeBlob(store(), text('grandchild'));
        const child = await writeBlob(store(), text('child'), { labels: { [`${GC_REF_CONTENT_PREFIX}.layer.0`]: grandchild.digest } });
        const root = await writeBlob(store(), text('root'), {
          labels: { [GC_ROOT_LABEL]: '2024-01-01', [`${GC_REF_CONTENT_PREFIX}.config`]: child.digest },
        });
        const leased = await writeBlob(store(), text('leased'));
        const orphan = await writeBlob(store(), text('orphan'));
        const orphanParent = await writeBlob(store(), text('unreferenced parent'), {
          labels: { [`${GC_REF_CONTENT_PREFIX}.x`]: leased.digest },
        });
        const lease = await leases().create({ id: 'suite-pull' });
        await leases().addResource(lease.id, leased.digest);
        await sleep(20);

        const dry = await gc(true);
        expect(sorted(dry.deleted)).toEqual(sorted([orphan.digest, orphanParent.digest]));
        expect(dry.bytesFreed).toBe(orphan.size + orphanParent.size);
        expect(await digests()).toHaveLength(6);

        const result = await gc();
        expect(sorted(result.deleted)).toEqual(sorted([orphan.digest, orphanParent.digest]));
        expect(result.bytesFreed).toBe(orphan.size + orphanParent.size);
        expect(await digests()).toEqual(sorted([grandchild.digest, child.digest, root.digest, leased.digest]));

        await leases().deleteResource(lease.id, leased.digest);
        await store().update(root.digest, { [GC_ROOT_LABEL]: 'yes' });
        await leases().delete(lease.id);
        expect(sorted((await gc()).deleted)).toEqual(sorted([leased.digest, child.digest, grandchild.digest]));
        expect(await digests()).toEqual([root.digest]);
      });

      it('an expired lease stops holding, and garbage collection removes it', async () => {
        const held = await writeBlob(store(), text('held for a second'));
        const lease = await leases().create({ id: 'suite-short', ttlSeconds: 1 });
        expect(lease.expiresAt).toBeInstanceOf(Date);
        await leases().addResource(lease.id, held.digest);
        const forever = await leases().create({ id: 'suite-forever' });
        await leases().addResource(forever.id, digestOf('not stored yet'));
        await sleep(20);
        expect((await gc()).deleted).toEqual([]);
        await sleep(Math.max(0, lease.expiresAt!.getTime() - Date.now()) + 50);
        const result = await gc();
        expect(result.deleted).toEqual([held.digest]);
        expect(result.leasesExpired).toBe(1);
        expect((await leases().list()).map((l) => l.id)).toEqual(['suite-forever']);
      });

      it('keeps the digest an open ingest expects', async () => {
        const data = text('expected by an ingest');
        const digest = digestOf(data);
        const pending = await open({ ref: 'suite-gc-pending', expected: digest });
        await pending.write(data.subarray(0, 5));
        await pending.close();
        await writeBlob(store(), data, { ref: 'suite-gc-other', expected: false });
        await sleep(20);
        expect((await gc()).deleted).toEqual([]);
        await store().info(digest);
        await store().abort('suite-gc-pending');
        expect((await gc()).deleted).toEqual([digest]);
      });

      it('creates, lists and deletes leases', async () => {
        const a = await leases().create({ id: 'suite-lease', labels: { owner: 'suite' } });
        expect(a).toMatchObject({ id: 'suite-lease', labels: { owner: 'suite' } });
        expect(a.expiresAt).toBeUndefined();
        expect(a.createdAt.getTime()).toBeGreaterThan(Date.now() - 5000);
        const b = await leases().create({ ttlSeconds: 3600 });
        expect(b.id).not.toBe('');
        expect(b.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
        await expectError(leases().create({ id: 'suite-lease' }), 'AlreadyExists', mentions('suite-lease'));
        expect((await leases().list()).map((l) => l.id).sort()).toEqual([b.id, 'suite-lease'].sort());
        await leases().addResource('suite-lease', digestOf('a'));
        await leases().addResource('suite-lease', digestOf('a'));
        await leases().addResource('suite-lease', digestOf('b'));
        await leases().deleteResource('suite-lease', digestOf('b'));
        expect(sorted(await leases().held())).toEqual([digestOf('a')]);
        await leases().addResources('suite-lease', [digestOf('a'), digestOf('c'), digestOf('d'), digestOf('c')]);
        await leases().addResources('suite-lease', []);
        expect(sorted(await leases().held())).toEqual(sorted(new Set([digestOf('a'), digestOf('c'), digestOf('d')])));
        await expectError(leases().addResources('suite-lease', [digestOf('e'), 'sha256:bad' as Digest]), 'InvalidArgument', messageOf(() => parseDigest('sha256:bad')));
        expect(sorted(await leases().held())).toEqual(sorted(new Set([digestOf('a'), digestOf('c'), digestOf('d')])));
        await leases().deleteResource('suite-lease', digestOf('c'));
        await leases().deleteResource('suite-lease', digestOf('d'));
        await expectError(leases().addResources('suite-absent', [digestOf('a')]), 'NotFound', mentions('suite-absent'));
        await expectError(leases().addResource('suite-absent', digestOf('a')), 'NotFound', mentions('suite-absent'));
        await expectError(leases().deleteResource('suite-absent', digestOf('a')), 'NotFound', mentions('suite-absent'));
        await expectError(leases().create({ id: '../escape' }), 'InvalidArgument', /invalid lease id/);
        await leases().delete('suite-lease');
        await expectError(leases().delete('suite-lease'), 'NotFound', mentions('suite-lease'));
        expect((await leases().list()).map((l) => l.id)).toEqual([b.id]);
        expect((await leases().held()).size).toBe(0);
      });
    });
  });
}
