import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat as statPath, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStrataError, type ErrorKind } from '@strata/kit';
import type { Snapshotter } from '../snapshotter.js';
import type { Info, Mount } from '../types.js';

/** What snapshotterSuite's setup returns: a fresh, empty snapshotter and how to perform its mounts. */
export interface SnapshotterFixture {
  snapshotter: Snapshotter;
  /** Performs mounts in order onto an existing directory (snapshots-local's mountAll on this host). */
  mount(mounts: Mount[], target: string): Promise<void>;
  /** Unmounts everything on target (snapshots-local's unmountAll). */
  unmount(target: string): Promise<void>;
  /** Closes the snapshotter and removes everything setup created. */
  cleanup(): Promise<void>;
}

/** The kind and message of the Strata error action rejects with; fails the test when it does not. */
export async function raised(action: () => Promise<unknown>): Promise<{ kind: ErrorKind; message: string }> {
  try {
    await action();
  } catch (err) {
    if (!isStrataError(err)) throw new Error(`expected a Strata error, got ${String(err)}`, { cause: err });
    return { kind: err.kind, message: err.message };
  }
  throw new Error('expected a Strata error, but the call succeeded');
}

/** Everything an AsyncIterable yields. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const exists = (path: string) =>
  statPath(path).then(
    () => true,
    () => false,
  );

type Step = (root: string) => Promise<void>;

/**
 * The contract of {@link Snapshotter}, in the spirit of containerd's
 * SnapshotterSuite: run it against every implementation — the overlay and
 * native drivers, and each through gRPC. setup runs before every test and
 * returns an empty snapshotter; cleanup runs after it, even when it failed.
 * The tests mount what the snapshotter returns (as root), always unmounting
 * in finally, and check the file systems through the mounts only.
 */
export function snapshotterSuite(name: string, setup: () => Promise<SnapshotterFixture>): void {
  describe(`snapshotter contract: ${name}`, { timeout: 60_000 }, () => {
    let fixture: SnapshotterFixture | undefined;
    let scratch: string | undefined;
    const sn = (): Snapshotter => fixture!.snapshotter;

    beforeEach(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'strata-snapshot-mnt-'));
      fixture = await setup();
    });

    afterEach(async () => {
      try {
        if (scratch !== undefined) {
          for (const entry of await readdir(scratch)) await fixture?.unmount(join(scratch, entry));
          await rm(scratch, { recursive: true, force: true });
        }
      } finally {
        scratch = undefined;
        await fixture?.cleanup();
        fixture = undefined;
      }
    });

    let targets = 0;
    /** Mounts key's mounts on a fresh directory, runs fn on it, and always unmounts. */
    async function withMounted<T>(key: string, fn: (root: string) => Promise<T>, mounts?: Mount[]): Promise<T> {
      const target = join(scratch!, `m${targets++}`);
      await mkdir(target);
      try {
        await fixture!.mount(mounts ?? (await sn().mounts(key)), target);
        try {
          return await fn(target);
        } finally {
          await fixture!.unmount(target);
        }
      } finally {
        await rmdir(target);
      }
    }

    /** Prepares key on parent, runs step through its mount, and commits it as name. */
    async function layer(name: string, parent: string | undefined, step?: Step): Promise<void> {
      const key = `${name}-active`;
      const mounts = await sn().prepare(key, parent);
      if (step !== undefined) await withMounted(key, step, mounts);
      await sn().commit(name, key);
    }

    const read = (root: string, path: string) => readFile(join(root, path), 'utf8');
    const tree = async (root: string, dir = ''): Promise<string[]> => {
      const out: string[] = [];
      for (const entry of (await readdir(join(root, dir), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
        out.push(entry.isDirectory() ? `${path}/` : path);
        if (entry.isDirectory()) out.push(...(await tree(root, path)));
      }
      return out;
    };

    it('prepares an empty active snapshot whose mount is writable', async () => {
      const mounts = await sn().prepare('a', undefined, { labels: { role: 'test' } });
      expect(mounts.length).toBeGreaterThan(0);
      expect(await sn().mounts('a')).toEqual(mounts);
      const info = await sn().stat('a');
      expect(info).toMatchObject({ name: 'a', kind: 'active', labels: { role: 'test' } });
      expect(info.parent).toBeUndefined();
      expect(info.created).toBeInstanceOf(Date);
      expect(info.updated.getTime()).toBe(info.created.getTime());
      await withMounted('a', async (root) => {
        expect(await readdir(root)).toEqual([]);
        await writeFile(join(root, 'hello'), 'world');
      });
      await withMounted('a', async (root) => expect(await read(root, 'hello')).toBe('world'));
    });

    it('commits an active snapshot under a name; the key disappears and the name becomes a parent', async () => {
      await sn().prepare('a', undefined, { labels: { keep: 'me' } });
      await withMounted('a', (root) => writeFile(join(root, 'f'), 'one'));
      await sn().commit('base', 'a');
      expect(await sn().stat('base')).toMatchObject({ name: 'base', kind: 'committed', labels: { keep: 'me' } });
      expect(await raised(() => sn().stat('a'))).toEqual({ kind: 'NotFound', message: 'snapshot "a" not found' });
      await sn().prepare('b', 'base');
      expect(await sn().stat('b')).toMatchObject({ name: 'b', kind: 'active', parent: 'base' });
      await withMounted('b', async (root) => expect(await read(root, 'f')).toBe('one'));
      await sn().commit('next', 'b', { labels: { only: 'this' } });
      expect(await sn().stat('next')).toMatchObject({ kind: 'committed', parent: 'base', labels: { only: 'this' } });
    });

    it('stacks three layers into one merged view: upper files hide lower ones, deletions and replaced directories hide all below', async () => {
      await layer('l1', undefined, async (root) => {
        await writeFile(join(root, 'a'), 'a1');
        await writeFile(join(root, 'b'), 'b1');
        await mkdir(join(root, 'd'));
        await writeFile(join(root, 'd', 'x'), 'x1');
        await writeFile(join(root, 'd', 'y'), 'y1');
      });
      await layer('l2', 'l1', async (root) => {
        expect(await tree(root)).toEqual(['a', 'b', 'd/', 'd/x', 'd/y']);
        await unlink(join(root, 'a'));
        await writeFile(join(root, 'b'), 'b2');
        await writeFile(join(root, 'c'), 'c2');
        await rm(join(root, 'd'), { recursive: true });
        await mkdir(join(root, 'd'));
        await writeFile(join(root, 'd', 'z'), 'z2');
      });
      await layer('l3', 'l2', async (root) => {
        await writeFile(join(root, 'c'), 'c3');
        await writeFile(join(root, 'e'), 'e3');
      });
      const merged = ['b', 'c', 'd/', 'd/z', 'e'];
      await sn().view('v', 'l3');
      await withMounted('v', async (root) => {
        expect(await tree(root)).toEqual(merged);
        expect([await read(root, 'b'), await read(root, 'c'), await read(root, 'd/z'), await read(root, 'e')]).toEqual(['b2', 'c3', 'z2', 'e3']);
      });
      await sn().prepare('ctr', 'l3');
      await withMounted('ctr', async (root) => {
        expect(await tree(root)).toEqual(merged);
        await unlink(join(root, 'b'));
        await writeFile(join(root, 'c'), 'container');
      });
      await withMounted('ctr', async (root) => expect(await tree(root)).toEqual(['c', 'd/', 'd/z', 'e']));
      await withMounted('v', async (root) => {
        expect(await tree(root)).toEqual(merged);
        expect(await read(root, 'c')).toBe('c3');
      });
      await sn().view('v1', 'l1');
      await withMounted('v1', async (root) => expect(await tree(root)).toEqual(['a', 'b', 'd/', 'd/x', 'd/y']));
    });

    it.each([
      ['with no parent', 0],
      ['of one layer', 1],
      ['of two layers', 2],
    ])('mounts a view %s read-only', async (_, depth) => {
      let parent: string | undefined;
      for (let i = 0; i < depth; i++) {
        await layer(`p${i}`, parent, (root) => writeFile(join(root, `f${i}`), String(i)));
        parent = `p${i}`;
      }
      await sn().view('v', parent, { labels: { ro: 'yes' } });
      expect(await sn().stat('v')).toMatchObject({ kind: 'view', labels: { ro: 'yes' }, ...(parent ? { parent } : {}) });
      await withMounted('v', async (root) => {
        expect((await readdir(root)).sort()).toEqual(Array.from({ length: depth }, (_, i) => `f${i}`));
        const err = await writeFile(join(root, 'new'), 'x').then(
          () => undefined,
          (e: NodeJS.ErrnoException) => e.code,
        );
        expect(err).toBe('EROFS');
      });
    });

    it('mounts a chain of 128 layers showing the bottom and the top layer', async () => {
      let parent: string | undefined;
      for (let i = 0; i < 128; i++) {
        const step: Step | undefined =
          i === 0 ? (root) => writeFile(join(root, 'bottom'), 'layer 0') : i === 127 ? (root) => writeFile(join(root, 'top'), 'layer 127') : undefined;
        await layer(`layer-${i}`, parent, step);
        parent = `layer-${i}`;
      }
      const mounts = await sn().prepare('deep', parent);
      for (const m of mounts) expect(Buffer.byteLength(m.options.join(','))).toBeLessThan(4096);
      await withMounted('deep', async (root) => {
        expect(await read(root, 'bottom')).toBe('layer 0');
        expect(await read(root, 'top')).toBe('layer 127');
        await writeFile(join(root, 'mine'), 'rw');
      });
      await sn().view('deep-view', parent);
      await withMounted('deep-view', async (root) => expect((await readdir(root)).sort()).toEqual(['bottom', 'top']));
    });

    describe('errors', () => {
      beforeEach(async () => {
        await layer('base', undefined);
        await sn().prepare('act', 'base');
        await sn().view('v', 'base');
      });

      it.each<[string, (s: Snapshotter) => Promise<unknown>, ErrorKind, string]>([
        ['stat of an unknown key', (s) => s.stat('nope'), 'NotFound', 'snapshot "nope" not found'],
        ['mounts of an unknown key', (s) => s.mounts('nope'), 'NotFound', 'snapshot "nope" not found'],
        ['usage of an unknown key', (s) => s.usage('nope'), 'NotFound', 'snapshot "nope" not found'],
        ['update of an unknown key', (s) => s.update('nope', {}), 'NotFound', 'snapshot "nope" not found'],
        ['remove of an unknown key', (s) => s.remove('nope'), 'NotFound', 'snapshot "nope" not found'],
        ['commit of an unknown key', (s) => s.commit('x', 'nope'), 'NotFound', 'snapshot "nope" not found'],
        ['prepare on an unknown parent', (s) => s.prepare('x', 'nope'), 'NotFound', 'parent snapshot "nope" not found'],
        ['view of an unknown parent', (s) => s.view('x', 'nope'), 'NotFound', 'parent snapshot "nope" not found'],
        ['prepare of a taken key', (s) => s.prepare('act'), 'AlreadyExists', 'snapshot "act" already exists'],
        ['view under a committed name', (s) => s.view('base', 'base'), 'AlreadyExists', 'snapshot "base" already exists'],
        ['commit to a taken name', (s) => s.commit('v', 'act'), 'AlreadyExists', 'snapshot "v" already exists'],
        ['commit to its own key', (s) => s.commit('act', 'act'), 'AlreadyExists', 'snapshot "act" already exists'],
        [
          'prepare on an active parent',
          (s) => s.prepare('x', 'act'),
          'FailedPrecondition',
          'parent snapshot "act" is active: only committed snapshots can be parents',
        ],
        [
          'view of a view',
          (s) => s.view('x', 'v'),
          'FailedPrecondition',
          'parent snapshot "v" is view: only committed snapshots can be parents',
        ],
        ['commit of a view', (s) => s.commit('x', 'v'), 'FailedPrecondition', 'snapshot "v" is view: only an active snapshot can be committed'],
        [
          'commit of a committed snapshot',
          (s) => s.commit('x', 'base'),
          'FailedPrecondition',
          'snapshot "base" is committed: only an active snapshot can be committed',
        ],
        [
          'mounts of a committed snapshot',
          (s) => s.mounts('base'),
          'FailedPrecondition',
          'snapshot "base" is committed: only active and view snapshots have mounts; prepare or view one on top of it',
        ],
        [
          'remove of a parent',
          (s) => s.remove('base'),
          'FailedPrecondition',
          'snapshot "base" is the parent of 2 snapshots: remove them first',
        ],
        ['an empty key', (s) => s.prepare(''), 'InvalidArgument', 'invalid snapshot key: empty'],
        ['an empty name', (s) => s.commit('', 'act'), 'InvalidArgument', 'invalid snapshot name: empty'],
        [
          'a key with a newline',
          (s) => s.stat('a\nb'),
          'InvalidArgument',
          'invalid snapshot key "a\\nb": control characters are not allowed',
        ],
        ['a label without key', (s) => s.prepare('x', undefined, { labels: { '': 'v' } }), 'InvalidArgument', 'invalid label: empty key'],
        [
          'an update of the parent',
          (s) => s.update('act', {}, ['parent']),
          'InvalidArgument',
          'cannot update "parent": only "labels" and "labels.<key>" can change',
        ],
        [
          'a filter on an unknown field',
          (s) => collect(s.list(['size==1'])),
          'InvalidArgument',
          'invalid filter "size==1": unknown field "size"; use name, parent, kind or labels.<key>',
        ],
      ])('%s', async (_, action, kind, message) => {
        expect(await raised(() => action(sn()))).toEqual({ kind, message });
      });

      it('leaves everything as it was after the failures', async () => {
        for (const [key, kind] of [
          ['base', 'committed'],
          ['act', 'active'],
          ['v', 'view'],
        ] as const)
          expect(await sn().stat(key)).toMatchObject({ kind });
        expect((await collect(sn().list())).map((i) => i.name).sort()).toEqual(['act', 'base', 'v']);
      });
    });

    it('removes snapshots of every kind, a parent only after its children', async () => {
      await layer('base', undefined, (root) => writeFile(join(root, 'f'), 'x'));
      await layer('mid', 'base');
      await sn().prepare('c1', 'mid');
      await withMounted('c1', (root) => writeFile(join(root, 'g'), 'y'));
      await sn().view('v1', 'mid');
      expect(await raised(() => sn().remove('mid'))).toEqual({
        kind: 'FailedPrecondition',
        message: 'snapshot "mid" is the parent of 2 snapshots: remove them first',
      });
      expect(await raised(() => sn().remove('base'))).toEqual({
        kind: 'FailedPrecondition',
        message: 'snapshot "base" is the parent of 1 snapshot: remove them first',
      });
      await sn().remove('c1');
      await sn().remove('v1');
      await sn().remove('mid');
      await sn().remove('base');
      expect(await collect(sn().list())).toEqual([]);
      expect(await raised(() => sn().remove('base'))).toEqual({ kind: 'NotFound', message: 'snapshot "base" not found' });
      await sn().prepare('base');
      expect(await sn().stat('base')).toMatchObject({ kind: 'active' });
    });

    it('lists with filters: selectors of one filter all match, any filter may', async () => {
      await layer('base', undefined);
      await sn().update('base', { tier: 'os', 'strata.io/gc.root': 'x' });
      await layer('app', 'base');
      await sn().prepare('ctr', 'app', { labels: { tier: 'app' } });
      await sn().view('look', 'app');
      const names = async (filters?: string[]) => (await collect(sn().list(filters))).map((i) => i.name).sort();
      expect(await names()).toEqual(['app', 'base', 'ctr', 'look']);
      expect(await names(['kind==committed'])).toEqual(['app', 'base']);
      expect(await names(['parent==app'])).toEqual(['ctr', 'look']);
      expect(await names(['labels.tier==os'])).toEqual(['base']);
      expect(await names(['labels."strata.io/gc.root"'])).toEqual(['base']);
      expect(await names(['labels.tier'])).toEqual(['base', 'ctr']);
      expect(await names(['kind==active', 'kind==view'])).toEqual(['ctr', 'look']);
      expect(await names(['parent==app,kind==view'])).toEqual(['look']);
      expect(await names(['name~=^(a|b)'])).toEqual(['app', 'base']);
      expect(await names(['kind==nothing'])).toEqual([]);
      const [ctr] = await collect(sn().list(['name==ctr']));
      expect(ctr).toMatchObject({ name: 'ctr', parent: 'app', kind: 'active', labels: { tier: 'app' } } satisfies Partial<Info>);
    });

    it('measures usage of the snapshot itself, on demand while active and unchanged by commit', async () => {
      await sn().prepare('a');
      const empty = await sn().usage('a');
      expect(empty.inodes).toBe(1);
      await withMounted('a', async (root) => {
        await writeFile(join(root, 'big'), Buffer.alloc(100_000, 1));
        await mkdir(join(root, 'd'));
        await writeFile(join(root, 'd', 'small'), 'x');
      });
      const used = await sn().usage('a');
      expect(used.inodes).toBe(4);
      expect(used.size).toBeGreaterThanOrEqual(100_000 + empty.size);
      await sn().commit('c', 'a');
      expect(await sn().usage('c')).toEqual(used);
      await sn().prepare('child', 'c');
      await withMounted('child', (root) => writeFile(join(root, 'more'), Buffer.alloc(50_000, 2)));
      expect((await sn().usage('child')).size).toBeGreaterThanOrEqual(50_000);
      expect(await sn().usage('c')).toEqual(used);
    });

    it('updates labels only, all or by path, and keeps them through commit', async () => {
      await sn().prepare('a', undefined, { labels: { x: '1', y: '2' } });
      const before = await sn().stat('a');
      await new Promise((r) => setTimeout(r, 5));
      const updated = await sn().update('a', { y: '3', z: '4' }, ['labels.y', 'labels.x']);
      expect(updated.labels).toEqual({ y: '3' });
      expect(updated.updated.getTime()).toBeGreaterThan(before.updated.getTime());
      expect(updated.created.getTime()).toBe(before.created.getTime());
      expect(await sn().stat('a')).toEqual(updated);
      expect((await sn().update('a', { only: 'one' })).labels).toEqual({ only: 'one' });
      expect((await sn().update('a', { all: 'new' }, ['labels'])).labels).toEqual({ all: 'new' });
      await sn().commit('c', 'a');
      expect((await sn().stat('c')).labels).toEqual({ all: 'new' });
      expect((await sn().update('c', { gc: 'root' }, ['labels.gc'])).labels).toEqual({ all: 'new', gc: 'root' });
    });

    it('serializes concurrent calls: a key is taken once, a name committed once', async () => {
      await layer('base', undefined, (root) => writeFile(join(root, 'f'), 'x'));
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((k) => sn().prepare(k, 'base')));
      const same = await Promise.allSettled(Array.from({ length: 5 }, () => sn().prepare('same', 'base')));
      expect(same.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of same) {
        if (r.status === 'rejected') expect(await raised(() => Promise.reject(r.reason))).toEqual({ kind: 'AlreadyExists', message: 'snapshot "same" already exists' });
      }
      const commits = await Promise.allSettled([sn().commit('top', 'k0'), sn().commit('top', 'k1')]);
      expect(commits.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      await Promise.all(['k2', 'k3', 'k4'].map((k) => sn().remove(k)));
      expect((await collect(sn().list(['parent==base']))).map((i) => i.name).sort()).toEqual(
        ['k5', 'k6', 'k7', 'same', 'top', ...(commits[0]!.status === 'fulfilled' ? ['k1'] : ['k0'])].sort(),
      );
      await withMounted('k7', async (root) => expect(await read(root, 'f')).toBe('x'));
    });

    it('leaves every snapshot in place on cleanup', async () => {
      await layer('base', undefined, (root) => writeFile(join(root, 'f'), 'x'));
      await sn().prepare('a', 'base');
      await sn().view('v', 'base');
      await sn().cleanup();
      expect((await collect(sn().list())).map((i) => i.name).sort()).toEqual(['a', 'base', 'v']);
      await withMounted('a', async (root) => expect(await read(root, 'f')).toBe('x'));
      await withMounted('v', async (root) => expect(await exists(join(root, 'f'))).toBe(true));
    });
  });
}
