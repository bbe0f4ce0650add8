/**
 * A container's files as its processes see them, read from the node (what
 * `docker cp CONTAINER:PATH` needs): paths are resolved the way the
 * container resolves them, symbolic links against the container's root,
 * never the node's.
 *
 * Where the bytes are: a running container's through `/proc/<pid>/root`
 * (its mount namespace: the image with its changes, volumes, binds,
 * tmpfs); a stopped one's in its mounted root file system, with the runtime
 * spec's binds (volumes, binds, /etc/hosts…) laid over it. Either way the
 * node only ever opens paths whose components this module has seen to be
 * directories, so a container must not be able to change them meanwhile:
 * the caller freezes a running container while it reads (a directory
 * swapped for a symlink to `/` would otherwise lead the node's own path
 * lookup out of the container).
 */
import { constants, createReadStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readlink, rm, symlink, unlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { failedPrecondition, invalidArgument, isNotFound, notFound } from '@strata/kit';
import { makeFifo, readTar } from '@strata/layer-diff';
import { createTarWriter, pathEntry, tarDirectory } from '@strata/tar';

/** The node's path of a container path whose components are all directories or the final file (see resolveContainerPath). */
export type HostPathOf = (containerPath: string) => string;

/** The most symbolic links one lookup follows, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

/** A running container's files: through its mount namespace, `/proc/<pid>/root` (its root with a trailing `/`: lstat of the bare magic link would see a link). */
export function runningContainerFiles(pid: number): HostPathOf {
  return (path) => `/proc/${pid}/root${path === '/' ? '/' : path}`;
}

/**
 * A stopped container's files: its root file system, with binds (host
 * source → container destination, as the runtime spec lists them) laid
 * over it; the deepest bind that holds a path wins.
 */
export function stoppedContainerFiles(rootfs: string, binds: ReadonlyArray<{ source: string; destination: string }>): HostPathOf {
  const byDepth = [...binds].map((b) => ({ source: b.source, destination: posix.resolve('/', b.destination) })).sort((a, b) => b.destination.length - a.destination.length);
  return (path) => {
    const bind = byDepth.find((b) => path === b.destination || path.startsWith(`${b.destination}/`));
    if (bind === undefined) return path === '/' ? rootfs : `${rootfs}${path}`;
    return `${bind.source}${path.slice(bind.destination.length)}`;
  };
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/**
 * The container path that path (absolute, or relative to the container's
 * root) names once its symbolic links are followed inside the container:
 * `..` is taken lexically first (as Docker cleans a path), a link's
 * absolute target starts again from the container's root, and `..` never
 * climbs above it. The final component is followed only with followLast
 * (or a path ending in `/` or `/.`). NotFound for a component that does
 * not exist (the final one too, unless allowMissing), FailedPrecondition
 * for more than 40 links or a file used as a directory.
 */
export async function resolveContainerPath(files: HostPathOf, path: string, options: { followLast: boolean; allowMissing?: boolean }): Promise<string> {
  const followLast = options.followLast || path.endsWith('/') || path.endsWith('/.');
  const pending = posix.resolve('/', path).split('/').filter((c) => c !== '');
  let resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const component = pending.shift()!;
    if (component === '.') continue;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, component];
    const last = pending.length === 0;
    const containerPath = `/${candidate.join('/')}`;
    let stats;
    try {
      stats = await lstat(files(containerPath));
    } catch (err) {
      if (errno(err) === 'ENOENT' && last && options.allowMissing === true) return containerPath;
      if (errno(err) === 'ENOENT') throw notFound(`no such file or directory: ${containerPath}`, { fields: { path: containerPath } });
      if (errno(err) === 'ENOTDIR') throw failedPrecondition(`not a directory: ${`/${resolved.join('/')}`}`, { fields: { path: containerPath } });
      throw err;
    }
    if (stats.isSymbolicLink() && (!last || followLast)) {
      if (++links > MAX_LINKS) throw failedPrecondition(`too many levels of symbolic links in ${path}`, { fields: { path } });
      const target = await readlink(files(containerPath));
      if (target.startsWith('/')) resolved = [];
      pending.unshift(...target.split('/').filter((c) => c !== ''));
      continue;
    }
    if (!last && !stats.isDirectory()) throw failedPrecondition(`not a directory: ${containerPath}`, { fields: { path: containerPath } });
    resolved = candidate;
  }
  return `/${resolved.join('/')}`;
}

/** What Docker's `X-Docker-Container-Path-Stat` says of a path. */
export interface PathStat {
  /** The base name (`/` for the root). */
  name: string;
  size: number;
  /** st_mode: type and permission bits. */
  mode: number;
  mtime: Date;
  /** For a symbolic link: where it leads in the container, resolved there (its target as written when that does not exist); '' otherwise. */
  linkTarget: string;
}

/** The stat of a resolved container path (not followed when it is a symbolic link). */
export async function statContainerPath(files: HostPathOf, resolved: string): Promise<PathStat> {
  const stats = await lstat(files(resolved));
  let linkTarget = '';
  if (stats.isSymbolicLink()) {
    linkTarget = await resolveContainerPath(files, resolved, { followLast: true, allowMissing: true }).catch(async () =>
      posix.resolve(posix.dirname(resolved), await readlink(files(resolved))),
    );
  }
  return { name: resolved === '/' ? '/' : posix.basename(resolved), size: Number(stats.size), mode: stats.mode, mtime: stats.mtime, linkTarget };
}

/**
 * The tar Docker's archive endpoint answers for a resolved container path:
 * the path itself as rootName (a file, a symbolic link as such, or a
 * directory with everything under it, links not followed), as the node
 * finds them through files. Errors destroy the stream.
 */
export function containerPathTar(files: HostPathOf, resolved: string, rootName: string): Readable {
  const writer = createTarWriter();
  (async () => {
    const host = files(resolved);
    const entry = await pathEntry(rootName, host);
    if (entry !== undefined) {
      await writer.add(entry, entry.type === 'file' ? createReadStream(host) : undefined);
      if (entry.type === 'directory') await tarDirectory(host, writer, { namePrefix: rootName });
    }
    await writer.finish();
  })().catch((err: unknown) => {
    if (!writer.stream.destroyed) writer.stream.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return writer.stream;
}

/** Settings of {@link extractIntoContainer}, as Docker's PUT archive takes them. */
export interface ExtractOptions {
  /** Refuse to replace a directory with a file or a file with a directory (the docker CLI always asks this). */
  noOverwriteDirNonDir: boolean;
  /** The owner of what is written; the archive's own when undefined (`docker cp -a`). */
  owner?: { uid: number; gid: number };
  /** Whether the container may write at a (resolved) path; FailedPrecondition "container rootfs is marked read-only" otherwise. */
  writable?: (containerPath: string) => boolean;
}

/**
 * Extracts a tar into the directory dir of a container (`docker cp SRC
 * CONTAINER:DIR`), every entry resolved as the container resolves it: a
 * link in the container or in the archive leads somewhere inside the
 * container's root, never the node's; an entry that climbs out of dir with
 * `..` is refused (InvalidArgument). Missing parents are made (0755).
 * Files, directories, symbolic links, hard links (to an entry of the same
 * archive or a file already there) and FIFOs are written; devices are
 * refused. An existing directory stays as it is; anything else in the way
 * is replaced, unless noOverwriteDirNonDir forbids replacing a directory
 * with a non-directory or the reverse (FailedPrecondition, Docker's text).
 * Returns the entries written. What was written before an error stays, as
 * with Docker.
 */
export async function extractIntoContainer(files: HostPathOf, dir: string, source: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<number> {
  const known = new Map<string, string>();
  const writable = (path: string) => {
    if (options.writable !== undefined && !options.writable(path)) throw failedPrecondition('container rootfs is marked read-only', { fields: { path } });
  };
  /** The resolved container path of directory path, made (with its missing parents) when missing. */
  const ensureDir = async (path: string): Promise<string> => {
    const cached = known.get(path);
    if (cached !== undefined) return cached;
    let resolved: string;
    try {
      resolved = await resolveContainerPath(files, path, { followLast: true });
    } catch (err) {
      if (!isNotFound(err) || path === '/') throw err;
      const parent = await ensureDir(posix.dirname(path));
      resolved = posix.join(parent, posix.basename(path));
      writable(resolved);
      await mkdir(files(resolved), { mode: 0o755 }).catch((e: unknown) => (errno(e) === 'EEXIST' ? undefined : Promise.reject(e)));
      if (options.owner !== undefined) await lchown(files(resolved), options.owner.uid, options.owner.gid);
    }
    if (!(await lstat(files(resolved))).isDirectory()) throw failedPrecondition(`not a directory: ${path}`, { fields: { path } });
    known.set(path, resolved);
    return resolved;
  };
  const inDir = (name: string, what: string): string | undefined => {
    const parts = name.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) throw invalidArgument(`archive entry ${JSON.stringify(name)} ${what}: it climbs out of the destination with ..`);
    return parts.length === 0 ? undefined : posix.join(dir, ...parts);
  };
  let written = 0;
  for await (const entry of readTar(source)) {
    const h = entry.header;
    const target = inDir(h.name, 'is refused');
    if (target === undefined) continue; // "." is dir itself, which stays as it is.
    const path = posix.join(await ensureDir(posix.dirname(target)), posix.basename(target));
    writable(path);
    const host = files(path);
    const existing = await lstat(host).catch((err: unknown) => (errno(err) === 'ENOENT' ? undefined : Promise.reject(err)));
    const owner = options.owner ?? { uid: h.uid, gid: h.gid };
    if (h.type === 'directory') {
      if (existing?.isDirectory()) {
        known.set(target, path);
        continue;
      }
      if (existing !== undefined) {
        if (options.noOverwriteDirNonDir) throw failedPrecondition(`cannot overwrite non-directory "${path}" with directory "${h.name}"`, { fields: { path } });
        await unlink(host);
      }
      await mkdir(host, { mode: h.mode & 0o7777 });
      await chmod(host, h.mode & 0o7777);
      await lchown(host, owner.uid, owner.gid);
      known.set(target, path);
      written++;
      continue;
    }
    if (existing?.isDirectory()) {
      if (options.noOverwriteDirNonDir) throw failedPrecondition(`cannot overwrite directory "${path}" with non-directory "${h.name}"`, { fields: { path } });
      await rm(host, { recursive: true });
    } else if (existing !== undefined) {
      await unlink(host);
    }
    if (h.type === 'file') {
      const handle = await open(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, h.mode & 0o777);
      try {
        for await (const chunk of entry.data()) await handle.write(chunk);
        await handle.chown(owner.uid, owner.gid);
        await handle.chmod(h.mode & 0o7777);
        await handle.utimes(h.mtime, h.mtime);
      } finally {
        await handle.close();
      }
    } else if (h.type === 'symlink') {
      await symlink(h.linkname, host);
      await lchown(host, owner.uid, owner.gid);
      await lutimes(host, h.mtime, h.mtime);
    } else if (h.type === 'hardlink') {
      const linked = inDir(h.linkname, `links to ${JSON.stringify(h.linkname)}`);
      if (linked === undefined) throw invalidArgument(`archive entry ${JSON.stringify(h.name)} is a hard link to the destination itself`);
      const from = posix.join(await resolveContainerPath(files, posix.dirname(linked), { followLast: true }), posix.basename(linked));
      await link(files(from), host);
    } else if (h.type === 'fifo') {
      makeFifo(host, h.mode);
      await lchown(host, owner.uid, owner.gid);
    } else {
      throw invalidArgument(`archive entry ${JSON.stringify(h.name)} is a device (${h.type}): devices cannot be copied into a container`);
    }
    written++;
  }
  return written;
}
