import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { internal } from '@strata/kit';
import type { Kind, Layout, Mount } from '@strata/snapshots';
import { run } from './fs-io.js';

/** A snapshot as a driver sees it: its directory number and its parents' numbers, nearest first. */
export interface DriverSnapshot {
  id: number;
  kind: Kind;
  parents: readonly number[];
}

/** What differs between the overlay and the native driver. */
export interface Driver {
  readonly layout: Layout;
  /** Fills a new snapshot's empty fs/ directory (native: with a copy of its parent's). */
  populate(snapshot: DriverSnapshot, snapshotsDir: string): Promise<void>;
  /** The mounts that show an active or view snapshot. */
  mounts(snapshot: DriverSnapshot, snapshotsDir: string): Mount[];
  /** The directories SnapshotDirectories.lowers lists. */
  lowers(snapshot: DriverSnapshot, snapshotsDir: string): string[];
}

const fsOf = (snapshotsDir: string, id: number): string => join(snapshotsDir, String(id), 'fs');

/** A bind mount of dir, read-only or read-write. */
export function bindMount(dir: string, mode: 'ro' | 'rw'): Mount {
  return { type: 'bind', source: dir, options: [mode, 'rbind'] };
}

/**
 * Mounts of the overlay layout: an active snapshot without parent is a
 * read-write bind mount of its fs/; a view of one parent a read-only bind
 * mount of the parent's fs/; otherwise overlay with `lowerdir` nearest
 * parent first (plus `upperdir`/`workdir` when active), paths relative to
 * the snapshots directory (the mount's cwd), so 128 layers of numbered
 * directories stay far below one page. extraOptions lead (e.g. `index=off`).
 */
export function overlayMounts(snapshot: DriverSnapshot, snapshotsDir: string, extraOptions: readonly string[] = []): Mount[] {
  const { id, kind, parents } = snapshot;
  if (parents.length === 0) return [bindMount(fsOf(snapshotsDir, id), kind === 'active' ? 'rw' : 'ro')];
  if (kind === 'view' && parents.length === 1) return [bindMount(fsOf(snapshotsDir, parents[0]!), 'ro')];
  const lowerdir = `lowerdir=${parents.map((p) => `${p}/fs`).join(':')}`;
  const options = kind === 'view' ? [...extraOptions, lowerdir] : [...extraOptions, `workdir=${id}/work`, `upperdir=${id}/fs`, lowerdir];
  return [{ type: 'overlay', source: 'overlay', options, cwd: snapshotsDir }];
}

/** True when the kernel has overlayfs (listed in /proc/filesystems, or its module is loaded). */
export async function overlaySupported(): Promise<boolean> {
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (/\toverlay$/m.test(filesystems)) return true;
  return access('/sys/module/overlay').then(
    () => true,
    () => false,
  );
}

/** The overlay driver: each snapshot's fs/ holds only its own changes. */
export async function createOverlayDriver(): Promise<Driver> {
  const indexOff = await access('/sys/module/overlay/parameters/index').then(
    () => ['index=off'],
    () => [],
  );
  return {
    layout: 'overlay',
    populate: async () => undefined,
    mounts: (snapshot, dir) => overlayMounts(snapshot, dir, indexOff),
    lowers: (snapshot, dir) => snapshot.parents.map((p) => fsOf(dir, p)),
  };
}

/**
 * Copies the tree at from into the existing directory to with `cp -a`
 * semantics: modes, owners, timestamps, xattrs, hard links, devices,
 * symlinks and sparse files preserved (reflinks where the file system has
 * them). Internal with cp's message when it fails.
 */
export async function copyTree(from: string, to: string): Promise<void> {
  const result = await run('cp', ['-a', '--reflink=auto', '--', `${from}/.`, `${to}/`]);
  if (result.code !== 0) throw internal(`copying ${from} to ${to} failed: ${result.stderr.trim() || `exit code ${result.code}`}`);
}

/**
 * The native driver, for hosts without overlay: an active snapshot's fs/ is
 * a full copy of its parent's, mounted with a bind mount; a view is a
 * read-only bind mount of its parent's fs/ (committed, so it never changes).
 */
export function createNativeDriver(): Driver {
  return {
    layout: 'native',
    populate: async (snapshot, dir) => {
      const parent = snapshot.parents[0];
      if (snapshot.kind === 'active' && parent !== undefined) await copyTree(fsOf(dir, parent), fsOf(dir, snapshot.id));
    },
    mounts: (snapshot, dir) => {
      const parent = snapshot.parents[0];
      if (snapshot.kind === 'active') return [bindMount(fsOf(dir, snapshot.id), 'rw')];
      return [bindMount(fsOf(dir, parent ?? snapshot.id), 'ro')];
    },
    lowers: (snapshot, dir) => snapshot.parents.slice(0, 1).map((p) => fsOf(dir, p)),
  };
}
