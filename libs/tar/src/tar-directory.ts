import { createReadStream, type BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { invalidArgument, notFound } from '@strata/kit';
import type { TarEntry } from './tar-entry.js';
import { createTarWriter, type TarWriter } from './tar-writer.js';

/** What {@link DirectoryTarOptions.rewrite} and readXattrs learn about a path on disk. */
export interface DirectoryTarContext {
  /** Absolute path on disk. */
  path: string;
  stats: BigIntStats;
}

/** Settings of {@link tarDirectory}. */
export interface DirectoryTarOptions {
  /** Every entry gets this mtime (seconds) instead of the file's, for reproducible archives. */
  mtime?: number;
  /** Every entry gets this owner instead of the file's. */
  owner?: { uid: number; gid: number };
  /** Entries are named under this directory (`etc` gives `etc/passwd`, hardlinks likewise); none by default. */
  namePrefix?: string;
  /**
   * Where the entry at a path under root (`a/b`, no prefix) is on disk;
   * `<root>/a/b` by default. A tree with mounts laid over it (a stopped
   * container's binds) names each of them here.
   */
  pathOf?: (relative: string) => string;
  /**
   * Reads a path's extended attributes (Node has no xattr API: callers plug
   * one in, e.g. through getfattr). None are written without it.
   */
  readXattrs?: (context: DirectoryTarContext) => Promise<Readonly<Record<string, Uint8Array>> | undefined>;
  /**
   * Replaces the entry made for a path: return it changed, several entries
   * (e.g. a directory and its `.wh..wh..opq` marker), or null to leave it
   * out (a directory's children are still visited). A returned file entry
   * with the original name gets the file's content; other returned file
   * entries must have size 0. Hardlinks name the first path of an inode as
   * found on disk, so keep that name.
   */
  rewrite?: (entry: TarEntry, context: DirectoryTarContext) => TarEntry | readonly TarEntry[] | null | Promise<TarEntry | readonly TarEntry[] | null>;
}

/** What {@link tarDirectory} wrote. */
export interface DirectoryTarResult {
  /** Entries written (after rewrite). */
  entries: number;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Major and minor number of a Linux dev_t. */
export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

/**
 * The archive entry of the file at path (not followed when a symlink),
 * named name: a file, directory, symlink, FIFO or device with its mode,
 * owner and mtime; undefined for a socket. Raises the lstat's error.
 */
export async function pathEntry(name: string, path: string, options: Pick<DirectoryTarOptions, 'mtime' | 'owner'> = {}): Promise<TarEntry | undefined> {
  return entryFor(name, { path, stats: await lstat(path, { bigint: true }) }, options);
}

async function entryFor(name: string, context: DirectoryTarContext, options: DirectoryTarOptions): Promise<TarEntry | undefined> {
  const { stats } = context;
  const base = {
    name,
    mode: Number(stats.mode & 0o7777n),
    uid: options.owner?.uid ?? Number(stats.uid),
    gid: options.owner?.gid ?? Number(stats.gid),
    mtime: options.mtime ?? Number(stats.mtimeNs / 1_000_000_000n),
  };
  const xattrs = await options.readXattrs?.(context);
  const withXattrs = xattrs !== undefined && Object.keys(xattrs).length > 0 ? { ...base, xattrs } : base;
  if (stats.isDirectory()) return { ...withXattrs, type: 'directory' };
  if (stats.isFile()) return { ...withXattrs, type: 'file', size: Number(stats.size) };
  if (stats.isSymbolicLink()) return { ...withXattrs, type: 'symlink', linkname: await readlink(context.path) };
  if (stats.isFIFO()) return { ...withXattrs, type: 'fifo' };
  if (stats.isCharacterDevice() || stats.isBlockDevice()) {
    const { major, minor } = deviceNumbers(stats.rdev);
    return { ...withXattrs, type: stats.isCharacterDevice() ? 'char-device' : 'block-device', devmajor: major, devminor: minor };
  }
  return undefined;
}

/**
 * Writes the tree under root (not root itself) to writer, depth first, each
 * directory's children in byte order of their names, so the same tree gives
 * the same archive. Regular files, directories, symlinks, FIFOs and devices
 * are written; sockets are skipped; a second path of an inode with several
 * links becomes a hardlink to the first. Does not finish the writer. Raises
 * NotFound when root does not exist, InvalidArgument when it is not a
 * directory, and what {@link TarWriter.add} raises.
 */
export async function tarDirectory(root: string, writer: TarWriter, options: DirectoryTarOptions = {}): Promise<DirectoryTarResult> {
  let rootStats: BigIntStats;
  try {
    rootStats = await lstat(root, { bigint: true });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`directory ${root} does not exist`, { cause });
    throw cause;
  }
  if (!rootStats.isDirectory()) throw invalidArgument(`${root} is not a directory`);
  const firstName = new Map<string, string>();
  let entries = 0;

  const emit = async (original: TarEntry, context: DirectoryTarContext) => {
    const rewritten = options.rewrite === undefined ? original : await options.rewrite(original, context);
    const list: readonly TarEntry[] = rewritten === null ? [] : Array.isArray(rewritten) ? rewritten : [rewritten as TarEntry];
    for (const entry of list) {
      const ownContent = entry.type === 'file' && entry.name === original.name && context.stats.isFile();
      await writer.add(entry, ownContent ? createReadStream(context.path) : undefined);
      entries++;
    }
  };

  const walk = async (dir: string, prefix: string, under: string): Promise<void> => {
    const names = (await readdir(dir)).sort(byBytes);
    for (const name of names) {
      const below = under === '' ? name : `${under}/${name}`;
      const path = options.pathOf === undefined ? join(dir, name) : options.pathOf(below);
      const relative = prefix === '' ? name : `${prefix}/${name}`;
      const stats = await lstat(path, { bigint: true });
      const context = { path, stats };
      const linkKey = `${stats.dev}:${stats.ino}`;
      const first = !stats.isDirectory() && stats.nlink > 1n ? firstName.get(linkKey) : undefined;
      if (first !== undefined) {
        await emit(
          {
            name: relative,
            type: 'hardlink',
            linkname: first,
            mode: Number(stats.mode & 0o7777n),
            uid: options.owner?.uid ?? Number(stats.uid),
            gid: options.owner?.gid ?? Number(stats.gid),
            mtime: options.mtime ?? Number(stats.mtimeNs / 1_000_000_000n),
          },
          context,
        );
        continue;
      }
      const entry = await entryFor(relative, context, options);
      if (entry === undefined) continue;
      if (!stats.isDirectory() && stats.nlink > 1n) firstName.set(linkKey, relative);
      await emit(entry, context);
      if (stats.isDirectory()) await walk(path, relative, below);
    }
  };

  await walk(root, options.namePrefix ?? '', '');
  return { entries };
}

/**
 * The archive of the tree under root as a stream (see {@link tarDirectory}),
 * finished with the end-of-archive marker. Errors destroy the stream with
 * the error.
 */
export function createDirectoryTar(root: string, options: DirectoryTarOptions = {}): Readable {
  const writer = createTarWriter();
  tarDirectory(root, writer, options)
    .then(() => writer.finish())
    .catch((err: unknown) => {
      if (!writer.stream.destroyed) writer.stream.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  return writer.stream;
}
