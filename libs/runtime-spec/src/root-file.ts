import { constants } from 'node:fs';
import { chown, lstat, mkdir, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { invalidArgument } from '@strata/kit';

const MAX_SYMLINK_HOPS = 40;

/** The largest file {@link readRootFile} reads (1 MiB). */
export const MAX_ROOT_FILE_BYTES = 1 << 20;

/**
 * The components of a container path cleaned lexically as if it were
 * absolute: empty and `.` components dropped, `..` drops the component
 * before it and never climbs above `/`.
 */
export function cleanComponents(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw err;
  }
}

function hostPath(root: string, components: readonly string[]): string {
  return components.length === 0 ? root : `${root}/${components.join('/')}`;
}

/** What {@link resolveInRoot} found. */
export interface RootPath {
  /** Components of the resolved path inside the root, every symlink replaced by its target. */
  components: string[];
  /** The path on the host (root + components). */
  hostPath: string;
  /** False when a component does not exist (and createDirs was not given); components and hostPath then end at it. */
  exists: boolean;
}

/**
 * Resolves a container path inside root (a canonical host path, no
 * symlinks in it) with chroot semantics: each
 * component is lstat-ed from the root on every call; a symlink is replaced
 * by its target read as if root were `/` (absolute targets restart at the
 * root, `..` stops at the root), so nothing resolves outside root. With
 * `createDirs` every missing component is created as a directory (mode
 * 0755, owned by `owner` when given); otherwise the walk stops at the
 * first missing component and reports `exists: false`. `what` names the
 * path in messages. Raises InvalidArgument when a component before the
 * last is not a directory or symlinks loop (more than 40 hops).
 */
export async function resolveInRoot(
  root: string,
  path: string,
  what: string,
  createDirs?: { owner?: { uid: number; gid: number } },
): Promise<RootPath> {
  const resolved: string[] = [];
  const pending = cleanComponents(path);
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    if (part === '.' || part === '') continue;
    const candidate = hostPath(root, [...resolved, part]);
    const stats = await lstatOrUndefined(candidate);
    if (stats === undefined) {
      if (createDirs === undefined) {
        return { components: [...resolved, part], hostPath: candidate, exists: false };
      }
      await mkdir(candidate, 0o755);
      if (createDirs.owner !== undefined) await chown(candidate, createDirs.owner.uid, createDirs.owner.gid);
      resolved.push(part);
    } else if (stats.isSymbolicLink()) {
      hops++;
      if (hops > MAX_SYMLINK_HOPS) throw invalidArgument(`${what}: too many levels of symbolic links`);
      const target = await readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
    } else if (stats.isDirectory() || pending.length === 0) {
      resolved.push(part);
    } else {
      throw invalidArgument(`${what}: /${[...resolved, part].join('/')} is not a directory`);
    }
  }
  return { components: resolved, hostPath: hostPath(root, resolved), exists: true };
}

/**
 * Reads a regular file of a container root file system (hostile input),
 * resolved by {@link resolveInRoot}: opened without following a final
 * symlink, without blocking on a FIFO, checked to be a regular file and,
 * through /proc/self/fd, to still lie inside root (a component swapped for
 * a symlink after the walk is caught), and read up to maxBytes. Returns
 * undefined when the file does not exist. Raises InvalidArgument when it
 * is not a regular file, is larger than maxBytes (1 MiB by default) or
 * lies outside root.
 */
export async function readRootFile(root: string, path: string, maxBytes = MAX_ROOT_FILE_BYTES): Promise<Buffer | undefined> {
  const what = `the image's ${path}`;
  const realRoot = await realpath(root);
  const found = await resolveInRoot(realRoot, path, what);
  if (!found.exists) return undefined;
  let handle: FileHandle;
  try {
    handle = await open(found.hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw invalidArgument(`${what} is not a regular file`);
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw invalidArgument(`${what} is not a regular file`);
    if (stats.size > maxBytes) throw invalidArgument(`${what} is larger than ${maxBytes} bytes`);
    const real = await readlink(`/proc/self/fd/${handle.fd}`);
    if (!real.startsWith(realRoot === '/' ? '/' : `${realRoot}/`)) {
      throw invalidArgument(`${what} resolved outside the container's root file system`);
    }
    // Sized by the stat (one byte more notices a file that grew since), not by maxBytes: two 1 MiB buffers per
    // container made for a passwd and a group file of a few hundred bytes were most of Create's garbage.
    const chunks: Buffer[] = [];
    let length = 0;
    for (let room = Math.min(stats.size, maxBytes) + 1; ; room = Math.min(64 << 10, maxBytes + 1 - length)) {
      const chunk = Buffer.allocUnsafe(room);
      const { bytesRead } = await handle.read(chunk, 0, room, length);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) throw invalidArgument(`${what} is larger than ${maxBytes} bytes`);
    }
    return Buffer.concat(chunks, length);
  } finally {
    await handle.close();
  }
}
