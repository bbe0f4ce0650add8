import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { invalidArgument } from '@strata/kit';

const MAX_SYMLINK_HOPS = 40;

/**
 * The components of an archive name cleaned lexically as if it were
 * absolute: empty and `.` components dropped, `..` removes the component
 * before it and never climbs above the root. `../x`, `/x` and `a/../x` all
 * name `x` inside the root.
 */
export function cleanComponents(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/** lstat without throwing for a missing path (no exception on the common path). */
const lstatOrUndefined = (path: string): Stats | undefined => lstatSync(path, { throwIfNoEntry: false });

/**
 * Where a tree's paths are on disk: a directory, or a function giving the
 * disk path of a path of the tree (`/a/b`, `/` for its root) whose
 * components are real directories (what a container with binds, or one
 * seen through `/proc/<pid>/root`, needs).
 */
export type Root = string | ((path: string) => string);

/** A physical path under root of components that exist as real directories. */
export const physical = (root: Root, components: readonly string[]): string =>
  typeof root === 'function' ? root(`/${components.join('/')}`) : components.length === 0 ? root : `${root}/${components.join('/')}`;

/**
 * Resolves directory components inside root with chroot semantics, walking
 * from the root on every call (no cache of "safe" directories): each
 * component is lstat-ed; a symlink is replaced by its target read as if
 * root were `/` (absolute targets restart at root, `..` stops at root), so
 * nothing ever resolves outside root. Missing directories are created
 * (mode 0755) when create is true, otherwise the result is undefined.
 * Returns the physical components, each an existing real directory at the
 * time of the walk. Raises InvalidArgument when a component is a
 * non-directory or symlinks loop (more than 40 hops); the caller names the
 * entry in `what`.
 */
export function resolveDirectory(root: Root, components: readonly string[], create: boolean, what: string): string[] | undefined {
  const resolved: string[] = [];
  /** physical(root, resolved), kept in step with resolved. */
  let at = physical(root, []);
  const pending = components.slice().reverse();
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      at = physical(root, resolved);
      continue;
    }
    const path = typeof root === 'function' ? physical(root, [...resolved, part]) : `${at}/${part}`;
    const stats = lstatOrUndefined(path);
    if (stats === undefined) {
      if (!create) return undefined;
      mkdirSync(path, 0o755);
    } else if (stats.isSymbolicLink()) {
      hops++;
      if (hops > MAX_SYMLINK_HOPS) throw invalidArgument(`${what}: too many levels of symbolic links`);
      const target = readlinkSync(path);
      if (target.startsWith('/')) {
        resolved.length = 0;
        at = physical(root, []);
      }
      const parts = target.split('/');
      for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]!);
      continue;
    } else if (!stats.isDirectory()) {
      throw invalidArgument(`${what}: /${[...resolved, part].join('/')} is not a directory`);
    }
    resolved.push(part);
    at = path;
  }
  return resolved;
}

/**
 * The physical components of a path whose every component is a real
 * directory (no symlink followed at all), or undefined when one is missing
 * or is not a directory.
 */
export function strictDirectory(root: Root, components: readonly string[]): string[] | undefined {
  for (let i = 1; i <= components.length; i++) {
    const path = physical(root, components.slice(0, i));
    const stats = lstatOrUndefined(path);
    if (stats === undefined || !stats.isDirectory()) return undefined;
  }
  return [...components];
}
