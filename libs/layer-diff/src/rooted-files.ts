/**
 * Files of a tree that has its own root, read and written from outside it
 * (`docker cp`: a container's files from its node, or a container's tar
 * into a directory of the user's): every path is resolved as a process
 * chrooted there would resolve it, with {@link resolveDirectory}, so a
 * symbolic link (in the tree or in an archive) leads somewhere inside the
 * root, never outside. Only paths whose components were just seen to be
 * real directories are opened; nothing may change the tree meanwhile (the
 * caller freezes a running container).
 */
import { constants, createReadStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readlink, rm, symlink, unlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { failedPrecondition, invalidArgument, notFound } from '@strata/kit';
import { createTarWriter, pathEntry, tarDirectory } from '@strata/tar';
import { makeFifo } from './fs-tools.js';
import { cleanComponents, physical, resolveDirectory, type Root } from './root-path.js';
import { readTar } from './tar-reader.js';

/** The most symbolic links one lookup follows, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/**
 * The path of the tree that path (absolute, or relative to the root) names
 * once its links are followed inside the root: `..` is taken lexically
 * first (as Docker cleans a path), then every directory on the way is
 * resolved with {@link resolveDirectory}. The final component is followed
 * only with followLast (or a path ending in `/` or `/.`). NotFound for a
 * component that does not exist (the final one too, unless allowMissing);
 * InvalidArgument for a file used as a directory or more than 40 links.
 */
export async function resolveRootedPath(root: Root, path: string, options: { followLast: boolean; allowMissing?: boolean }, links = 0): Promise<string> {
  const followLast = options.followLast || path.endsWith('/') || path.endsWith('/.');
  const components = cleanComponents(path);
  if (components.length === 0) return '/';
  const parent = resolveDirectory(root, components.slice(0, -1), false, `path ${path}`);
  if (parent === undefined) throw notFound(`no such file or directory: ${path}`, { fields: { path } });
  const own = [...parent, components.at(-1)!];
  const found = `/${own.join('/')}`;
  const stats = await lstat(physical(root, own)).catch((err: unknown) => (errno(err) === 'ENOENT' ? undefined : Promise.reject(err)));
  if (stats === undefined) {
    if (options.allowMissing === true) return found;
    throw notFound(`no such file or directory: ${path}`, { fields: { path } });
  }
  if (!stats.isSymbolicLink() || !followLast) return found;
  if (links >= MAX_LINKS) throw invalidArgument(`path ${path}: too many levels of symbolic links`);
  const target = await readlink(physical(root, own));
  return resolveRootedPath(root, target.startsWith('/') ? target : `/${[...parent, target].join('/')}`, { ...options, followLast: true }, links + 1);
}

/** What Docker's `X-Docker-Container-Path-Stat` says of a path. */
export interface PathStat {
  /** The base name (`/` for the root). */
  name: string;
  size: number;
  /** st_mode: type and permission bits. */
  mode: number;
  mtime: Date;
  /** For a symbolic link: where it leads in the tree, resolved there (its target as written when that fails); '' otherwise. */
  linkTarget: string;
}

/** The stat of a resolved path (not followed when it is a symbolic link). */
export async function statRootedPath(root: Root, resolved: string): Promise<PathStat> {
  const at = physical(root, cleanComponents(resolved));
  const stats = await lstat(at);
  let linkTarget = '';
  if (stats.isSymbolicLink()) {
    linkTarget = await resolveRootedPath(root, resolved, { followLast: true, allowMissing: true }).catch(async () => posix.resolve(posix.dirname(resolved), await readlink(at)));
  }
  return { name: resolved === '/' ? '/' : posix.basename(resolved), size: Number(stats.size), mode: stats.mode, mtime: stats.mtime, linkTarget };
}

/**
 * A resolved path as an uncompressed tar whose top entry is rootName (a
 * file, a symbolic link as such, or a directory with everything under it,
 * no link followed). Errors destroy the stream.
 */
export function tarRootedPath(root: Root, resolved: string, rootName: string): Readable {
  const writer = createTarWriter();
  (async () => {
    const at = physical(root, cleanComponents(resolved));
    const entry = await pathEntry(rootName, at);
    if (entry !== undefined) {
      await writer.add(entry, entry.type === 'file' ? createReadStream(at) : undefined);
      // Each entry's place through root: a bind below the path is read from where it is bound.
      const base = cleanComponents(resolved);
      if (entry.type === 'directory') await tarDirectory(at, writer, { namePrefix: rootName, pathOf: (below) => physical(root, [...base, ...below.split('/')]) });
    }
    await writer.finish();
  })().catch((err: unknown) => {
    if (!writer.stream.destroyed) writer.stream.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return writer.stream;
}

/** Settings of {@link extractIntoRoot}, as Docker's PUT archive takes them. */
export interface ExtractOptions {
  /** Refuse to replace a directory with a file or a file with a directory (the docker CLI always asks this). */
  noOverwriteDirNonDir: boolean;
  /** The owner of what is written; the archive's own when undefined (`docker cp -a`). */
  owner?: { uid: number; gid: number };
  /** Whether a (resolved) path may be written; FailedPrecondition "container rootfs is marked read-only" otherwise. */
  writable?: (path: string) => boolean;
  /** Names the archive's top entry `from` (and what is under it) `to` instead, as the docker CLI renames a copy; from `.` puts every entry under `to`. */
  rebase?: { from: string; to: string };
}

/**
 * Extracts a tar into the directory dir (resolved) of a tree, every entry
 * resolved inside the root: a link of the tree or of the archive leads
 * somewhere inside it, never outside; an entry that climbs out of dir with
 * `..` is refused (InvalidArgument). Missing parents are made (0755).
 * Files, directories, symbolic links, hard links (to an entry of the same
 * archive or a file already there) and FIFOs are written; devices are
 * refused (InvalidArgument). An existing directory stays as it is;
 * anything else in the way is replaced, unless noOverwriteDirNonDir
 * forbids replacing a directory with a non-directory or the reverse
 * (FailedPrecondition, Docker's text). Returns the entries written. What
 * was written before an error stays, as with Docker.
 */
export async function extractIntoRoot(root: Root, dir: string, source: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<number> {
  const writable = (path: string) => {
    if (options.writable !== undefined && !options.writable(path)) throw failedPrecondition('container rootfs is marked read-only', { fields: { path } });
  };
  const base = cleanComponents(dir);
  /** The components under dir an archive name stands for (rebased), or undefined for dir itself. */
  const inDir = (name: string, what: string): string[] | undefined => {
    let parts = name.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) throw invalidArgument(`archive entry ${JSON.stringify(name)} ${what}: it climbs out of the destination with ..`);
    const { rebase } = options;
    const to = rebase?.to.split('/').filter((c) => c !== '' && c !== '.') ?? [];
    // A top entry `.` (the contents of a directory, `DIR/.`) is renamed by putting everything under the new name.
    if (rebase?.from === '.') parts = [...to, ...parts];
    else if (rebase !== undefined && parts[0] === rebase.from) parts = [...to, ...parts.slice(1)];
    return parts.length === 0 ? undefined : parts;
  };
  /** The physical components of the parent of an entry, made (0755, the owner) where missing. */
  const parentOf = (parts: string[], what: string): string[] => {
    const wanted = [...base, ...parts.slice(0, -1)];
    const found = resolveDirectory(root, wanted, false, what);
    if (found !== undefined) return found;
    writable(`/${wanted.join('/')}`);
    return resolveDirectory(root, wanted, true, what)!;
  };
  let written = 0;
  for await (const entry of readTar(source)) {
    const h = entry.header;
    const parts = inDir(h.name, 'is refused');
    if (parts === undefined) continue; // dir itself, which stays as it is.
    const own = [...parentOf(parts, `archive entry ${JSON.stringify(h.name)}`), parts.at(-1)!];
    const path = `/${own.join('/')}`;
    writable(path);
    const at = physical(root, own);
    const existing = await lstat(at).catch((err: unknown) => (errno(err) === 'ENOENT' ? undefined : Promise.reject(err)));
    const owner = options.owner ?? { uid: h.uid, gid: h.gid };
    if (h.type === 'directory') {
      if (existing?.isDirectory()) continue;
      if (existing !== undefined) {
        if (options.noOverwriteDirNonDir) throw failedPrecondition(`cannot overwrite non-directory "${path}" with directory "${h.name}"`, { fields: { path } });
        await unlink(at);
      }
      await mkdir(at, { mode: h.mode & 0o7777 });
      await chmod(at, h.mode & 0o7777);
      await lchown(at, owner.uid, owner.gid);
      written++;
      continue;
    }
    if (existing?.isDirectory()) {
      if (options.noOverwriteDirNonDir) throw failedPrecondition(`cannot overwrite directory "${path}" with non-directory "${h.name}"`, { fields: { path } });
      await rm(at, { recursive: true });
    } else if (existing !== undefined) {
      await unlink(at);
    }
    if (h.type === 'file') {
      const handle = await open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, h.mode & 0o777);
      try {
        for await (const chunk of entry.data()) await handle.write(chunk);
        await handle.chown(owner.uid, owner.gid);
        await handle.chmod(h.mode & 0o7777);
        await handle.utimes(h.mtime, h.mtime);
      } finally {
        await handle.close();
      }
    } else if (h.type === 'symlink') {
      await symlink(h.linkname, at);
      await lchown(at, owner.uid, owner.gid);
      await lutimes(at, h.mtime, h.mtime);
    } else if (h.type === 'hardlink') {
      const linked = inDir(h.linkname, `links to ${JSON.stringify(h.linkname)}`);
      if (linked === undefined) throw invalidArgument(`archive entry ${JSON.stringify(h.name)} is a hard link to the destination itself`);
      const from = resolveDirectory(root, [...base, ...linked.slice(0, -1)], false, `archive entry ${JSON.stringify(h.name)}`);
      if (from === undefined) throw notFound(`archive entry ${JSON.stringify(h.name)} links to ${JSON.stringify(h.linkname)}, which is not there`);
      await link(physical(root, [...from, linked.at(-1)!]), at);
    } else if (h.type === 'fifo') {
      makeFifo(at, h.mode);
      await lchown(at, owner.uid, owner.gid);
    } else {
      throw invalidArgument(`archive entry ${JSON.stringify(h.name)} is a device (${h.type}): devices are not copied`);
    }
    written++;
  }
  return written;
}
