import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rm, stat, symlink, link, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStrataError, silentLogger } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import type { LocalSnapshotter } from '@strata/snapshots';
import { raised } from '@strata/snapshots/testing';
import { createLocalSnapshotter } from './local-snapshotter.js';
import { mountAll, mountPoints, unmountAll, type MountMethod } from './mount.js';

let dir: { path: string; remove: () => void };
let opened: LocalSnapshotter[] = [];
const mnt = () => join(dir.path, 'mnt');

async function open(driver: 'overlay' | 'native', root = join(dir.path, 'root')): Promise<LocalSnapshotter> {
  const s = await createLocalSnapshotter({ root, driver, logger: silentLogger(), syncOnCommit: false });
  opened.push(s);
  return s;
}

beforeEach(async () => {
  dir = tempDir('strata-snapshots-local-');
  await mkdir(mnt());
});

afterEach(async () => {
  try {
    await unmountAll(mnt());
    for (const s of opened) await s.close();
  } finally {
    opened = [];
    dir.remove();
  }
});

describe('overlay layout', () => {
  it('keeps directories 0700, numbers snapshots, and puts writes through the mount into the upper directory', async () => {
    const s = await open('overlay');
    await s.prepare('a');
    await s.commit('base', 'a');
    const base = await s.directories('base');
    await writeFile(join(base.upper!, 'lower-file'), 'x');
    const mounts = await s.prepare('ctr', 'base');
    expect(mounts).toEqual([
      {
        type: 'overlay',
        source: 'overlay',
        options: ['index=off', 'workdir=2/work', 'upperdir=2/fs', 'lowerdir=1/fs'],
        cwd: join(dir.path, 'root', 'snapshots'),
      },
    ]);
    const dirs = await s.directories('ctr');
    expect(dirs).toEqual({ key: 'ctr', kind: 'active', layout: 'overlay', upper: join(dir.path, 'root/snapshots/2/fs'), lowers: [base.upper] });
    await mountAll(mounts, mnt());
    try {
      await writeFile(join(mnt(), 'new'), 'through the mount');
      await unlink(join(mnt(), 'lower-file'));
    } finally {
      await unmountAll(mnt());
    }
    expect(await readFile(join(dirs.upper!, 'new'), 'utf8')).toBe('through the mount');
    const whiteout = await lstat(join(dirs.upper!, 'lower-file'));
    expect([whiteout.isCharacterDevice(), whiteout.rdev]).toEqual([true, 0]);
    for (const path of ['root', 'root/snapshots', 'root/metadata', 'root/snapshots/1', 'root/snapshots/2']) {
      expect(((await stat(join(dir.path, path))).mode & 0o777).toString(8)).toBe('700');
    }
  });

  it('returns bind mounts for a parentless active snapshot and a view of one layer', async () => {
    const s = await open('overlay');
    const snapshots = join(dir.path, 'root', 'snapshots');
    expect(await s.prepare('a')).toEqual([{ type: 'bind', source: join(snapshots, '1/fs'), options: ['rw', 'rbind'] }]);
    await s.commit('base', 'a');
    expect(await s.view('v', 'base')).toEqual([{ type: 'bind', source: join(snapshots, '1/fs'), options: ['ro', 'rbind'] }]);
    expect(await s.directories('v')).toEqual({ key: 'v', kind: 'view', layout: 'overlay', lowers: [join(snapshots, '1/fs')] });
  });

  it('keeps the options of 128 layers under a page even below a long root, nearest parent first', async () => {
    const root = join(dir.path, 'r'.repeat(100), 'o'.repeat(100), 'root');
    const s = await open('overlay', root);
    let parent: string | undefined;
    for (let i = 0; i < 128; i++) {
      await s.prepare(`k${i}`, parent);
      await writeFile(join((await s.directories(`k${i}`)).upper!, `f${i}`), String(i));
      await s.commit(`l${i}`, `k${i}`);
      parent = `l${i}`;
    }
    const [m] = await s.prepare('top', parent);
    const lowerdir = m!.options.find((o) => o.startsWith('lowerdir='))!;
    expect(lowerdir.split(':').slice(0, 2)).toEqual(['lowerdir=128/fs', '127/fs']);
    expect(m!.options.join(',').length).toBeLessThan(4096);
    expect(Array.from({ length: 128 }, (_, i) => join(root, 'snapshots', String(i + 1), 'fs')).join(':').length).toBeGreaterThan(4096);
    await mountAll([m!], mnt());
    try {
      expect((await readdir(mnt())).length).toBe(128);
    } finally {
      await unmountAll(mnt());
    }
  });
});

describe('native layout', () => {
  it('copies the parent with modes, owners, xattrs, hard links, devices and symlinks', async () => {
    const s = await open('native');
    await s.prepare('a');
    const upper = (await s.directories('a')).upper!;
    await writeFile(join(upper, 'file'), 'data', { mode: 0o640 });
    execFileSync('chown', ['1234:5678', join(upper, 'file')]);
    execFileSync('setfattr', ['-n', 'user.tag', '-v', 'kept', join(upper, 'file')]);
    await link(join(upper, 'file'), join(upper, 'hard'));
    await symlink('file', join(upper, 'sym'));
    execFileSync('mknod', [join(upper, 'null'), 'c', '1', '3']);
    await mkdir(join(upper, 'dir'), { mode: 0o711 });
    await s.commit('base', 'a');
    const mounts = await s.prepare('child', 'base');
    const child = await s.directories('child');
    expect(mounts).toEqual([{ type: 'bind', source: child.upper, options: ['rw', 'rbind'] }]);
    expect(child.lowers).toEqual([upper]);
    const st = await lstat(join(child.upper!, 'file'));
    expect([st.mode & 0o7777, st.uid, st.gid, st.nlink]).toEqual([0o640, 1234, 5678, 2]);
    expect((await lstat(join(child.upper!, 'hard'))).ino).toBe(st.ino);
    expect(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'user.tag', join(child.upper!, 'file')], { encoding: 'utf8' })).toBe('kept');
    expect((await lstat(join(child.upper!, 'sym'))).isSymbolicLink()).toBe(true);
    const dev = await lstat(join(child.upper!, 'null'));
    expect([dev.isCharacterDevice(), dev.rdev]).toEqual([true, (1 << 8) | 3]);
    expect((await stat(join(child.upper!, 'dir'))).mode & 0o777).toBe(0o711);
    await writeFile(join(child.upper!, 'file'), 'changed');
    expect(await readFile(join(upper, 'file'), 'utf8')).toBe('data');
  });
});

describe('durability and ownership', () => {
  it('reopens with the same snapshots and numbers new ones after the highest', async () => {
    const s = await open('overlay');
    await s.prepare('a', undefined, { labels: { x: 'y' } });
    await s.commit('base', 'a');
    await s.prepare('ctr', 'base');
    await s.view('v', 'base');
    await s.remove('v');
    await s.close();
    const again = await open('overlay');
    const infos = [];
    for await (const info of again.list()) infos.push(info);
    expect(infos.map((i) => [i.name, i.kind, i.parent ?? '']).sort()).toEqual([
      ['base', 'committed', ''],
      ['ctr', 'active', 'base'],
    ]);
    expect((await again.stat('base')).labels).toEqual({ x: 'y' });
    await again.prepare('next', 'base');
    expect((await again.directories('next')).upper).toBe(join(dir.path, 'root/snapshots/3/fs'));
  });

  it('refuses a second snapshotter over the same root', async () => {
    await open('overlay');
    expect(await raised(() => open('native'))).toEqual({
      kind: 'Unavailable',
      message: `snapshot root ${join(dir.path, 'root')} is in use by another snapshotter of this process`,
    });
  });

  it('removes leftover directories, temp files and removed records, and refuses a damaged record', async () => {
    const s = await open('overlay');
    await s.prepare('a');
    await s.close();
    const root = join(dir.path, 'root');
    await mkdir(join(root, 'snapshots', '77', 'fs'), { recursive: true });
    await writeFile(join(root, 'metadata', '77.json.999999999.0123456789abcdef.tmp'), '{');
    // A record a remove took out, whose purge a crash prevented: never loaded, and unlinked on start.
    await writeFile(join(root, 'metadata', '76.json.removed'), '{"id":76,"key":"gone","kind":"active","labels":{},"created":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z"}');
    const again = await open('overlay');
    expect((await readdir(join(root, 'snapshots'))).sort()).toEqual(['1']);
    expect(await readdir(join(root, 'metadata'))).toEqual(['1.json']);
    await expect(again.stat('gone')).rejects.toThrow(/not found/i);
    await mkdir(join(root, 'snapshots', '78'));
    await again.cleanup();
    expect(await readdir(join(root, 'snapshots'))).toEqual(['1']);
    await again.close();
    await writeFile(join(root, 'metadata', '1.json'), '{"id":1,');
    const err = await createLocalSnapshotter({ root, logger: silentLogger() }).catch((e: unknown) => e);
    expect(isStrataError(err) && [err.kind, err.message]).toEqual([
      'DataLoss',
      `snapshot metadata ${join(root, 'metadata', '1.json')} is damaged (Expected double-quoted property name in JSON at position 8); move it away to start without that snapshot`,
    ]);
  });

  it('deletes the directory of a removed snapshot', async () => {
    const s = await open('overlay');
    await s.prepare('a');
    const upper = (await s.directories('a')).upper!;
    await s.remove('a');
    await s.cleanup();
    await expect(stat(join(upper, '..'))).rejects.toThrow(/ENOENT/);
    expect(await readdir(join(dir.path, 'root', 'metadata'))).toEqual([]);
  });

  it('deletes removed directories once operations pause, and what still waits on close', async () => {
    const s = await open('overlay');
    const dirs: string[] = [];
    const removeOne = async (key: string) => {
      await s.prepare(key);
      dirs.push(join((await s.directories(key)).upper!, '..'));
      await s.remove(key);
    };
    const left = async () => (await Promise.all(dirs.map((d) => stat(d).then(() => d, () => undefined)))).filter((d) => d !== undefined);

    await removeOne('quiet');
    await waitFor(async () => (await left()).length === 0, () => 'the removed directory to go once operations pause', 5_000);

    for (let i = 0; i < 20; i++) await removeOne(`busy-${i}`);
    await s.close();
    expect(await left()).toEqual([]);
  });
});

describe.each<MountMethod>(['syscall', 'binary'])('mountAll and unmountAll through %s', (method) => {
  it('mounts overlay with relative paths, read-only binds, and unmounts stacked mounts', async () => {
    const layers = join(dir.path, 'layers');
    for (const d of ['1/fs', '2/fs', '3/fs', '3/work']) await mkdir(join(layers, d), { recursive: true });
    await writeFile(join(layers, '1/fs/a'), '1');
    await writeFile(join(layers, '2/fs/a'), '2');
    await mountAll([{ type: 'overlay', source: 'overlay', options: ['workdir=3/work', 'upperdir=3/fs', 'lowerdir=2/fs:1/fs'], cwd: layers }], mnt(), { method });
    expect(await readFile(join(mnt(), 'a'), 'utf8')).toBe('2');
    await mountAll([{ type: 'bind', source: join(layers, '1/fs'), options: ['ro', 'rbind'] }], mnt(), { method });
    expect(await readFile(join(mnt(), 'a'), 'utf8')).toBe('1');
    await expect(writeFile(join(mnt(), 'b'), 'x')).rejects.toThrow(/EROFS/);
    await unmountAll(mnt(), { method });
    expect((await mountPoints()).filter((p) => p.startsWith(dir.path))).toEqual([]);
    await unmountAll(mnt(), { method });
    await unmountAll(join(dir.path, 'missing'), { method });
  });

  it.each<[string, Parameters<typeof mountAll>[0], RegExp]>([
    ['a missing lower', [{ type: 'overlay', source: 'overlay', options: ['lowerdir=nope:nada'], cwd: '/' }], /^mount overlay on .* failed: .+/],
    ['options over a page', [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${'x'.repeat(4096)}`] }], /^mount options of overlay are 4105 bytes; the kernel takes at most 4095$/],
  ])('fails on %s and leaves nothing mounted', async (_, mounts, message) => {
    const err = await mountAll(mounts, mnt(), { method }).catch((e: unknown) => e);
    expect(isStrataError(err) && err.message).toMatch(message);
    expect((await mountPoints()).filter((p) => p.startsWith(dir.path))).toEqual([]);
  });

  it('refuses a target that does not exist', async () => {
    expect(await raised(() => mountAll([], join(dir.path, 'missing'), { method }))).toEqual({
      kind: 'InvalidArgument',
      message: `mount target ${join(dir.path, 'missing')} is not an existing directory`,
    });
  });
});

it('leaves no mount behind', async () => {
  await rm(mnt(), { recursive: true });
  expect((await mountPoints()).filter((p) => p.includes('strata-snapshots-local-'))).toEqual([]);
});
