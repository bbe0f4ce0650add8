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
import { createReadStream } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { failedPrecondition, notFound } from '@strata/kit';
import { createTarWriter, pathEntry, tarDirectory } from '@strata/tar';

/** The node's path of a container path whose components are all directories or the final file (see resolveContainerPath). */
export type HostPathOf = (containerPath: string) => string;

/** The most symbolic links one lookup follows, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

/** A running container's files: through its mount namespace, `/proc/<pid>/root`. */
export function runningContainerFiles(pid: number): HostPathOf {
  return (path) => `/proc/${pid}/root${path === '/' ? '' : path}`;
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
