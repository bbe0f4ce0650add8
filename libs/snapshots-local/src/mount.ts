import { readFileSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { failedPrecondition, internal, invalidArgument, type StrataError } from '@strata/kit';
import type { Mount } from '@strata/snapshots';
import { run } from './fs-io.js';
import { mountCalls, SyscallMounter } from './syscall-mounter.js';

/** umount2(2): its flag for a lazy unmount, and the errno of a target that is no mount point. */
const MNT_DETACH = 2;
const EINVAL = 22;

/** The kernel copies mount options into one page; longer strings fail with EINVAL. */
export const MAX_MOUNT_OPTIONS = 4095;

/**
 * How mountAll and unmountAll reach the kernel: `syscall` through a
 * long-lived helper process (no process start per mount; the default where
 * perl and a known architecture are there), or `binary`, mount(8) and
 * umount(8) run per call.
 */
export type MountMethod = 'syscall' | 'binary';

/** Options of mountAll and unmountAll. */
export interface MountOptions {
  /** Force a method (tests compare both); by default the fastest available. */
  method?: MountMethod;
}

let syscalls: SyscallMounter | undefined | null = null;

function mounterFor(options: MountOptions): SyscallMounter | undefined {
  if (options.method === 'binary') return undefined;
  if (syscalls === null) syscalls = SyscallMounter.create();
  if (syscalls === undefined && options.method === 'syscall') throw internal(`no mount helper for architecture ${process.arch}`);
  return syscalls;
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Mount points of this process's mount namespace, from /proc/self/mountinfo,
 * in mount order. The kernel generates that file in memory, so it is read
 * synchronously (open, read, close on this thread) rather than through the
 * libuv thread pool, which costs five round trips to a worker thread.
 */
export async function mountPoints(): Promise<string[]> {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined) out.push(unescapeMountinfo(field));
  }
  return out;
}

/** The mount(8) arguments of one mount onto dest. */
export function mountArgs(mount: Mount, dest: string): string[] {
  const options = mount.options.join(',');
  const args = mount.type === 'bind' ? [] : ['-t', mount.type];
  if (options !== '') args.push('-o', options);
  args.push('--', mount.source, dest);
  return args;
}

async function mountOne(mount: Mount, dest: string, helper: SyscallMounter | undefined): Promise<void> {
  const fail = (message: string): StrataError => internal(`mount ${mount.type} on ${dest} failed: ${message}`);
  if (helper === undefined) {
    const result = await run('mount', mountArgs(mount, dest), mount.cwd);
    if (result.code !== 0) throw fail(result.stderr.trim() || `exit code ${result.code}`);
    return;
  }
  const calls = mountCalls(mount.type, mount.source, mount.options);
  for (const [i, call] of calls.entries()) {
    const failure = await helper.mount(mount.cwd ?? '', call.source, dest, call.fstype, call.flags, call.data);
    if (failure === undefined) continue;
    if (i > 0) await helper.unmount(dest, 0);
    throw fail(failure.message);
  }
}

/**
 * Performs mounts in order onto target (an existing directory), as returned
 * by a Snapshotter, each from the mount's `cwd` when it has one, so relative
 * overlay paths resolve there. A mount with a `target` goes below target
 * (no `..`). On a failure the mounts already made are undone.
 * InvalidArgument for an option string longer than one page or a target
 * that is no directory; Internal with the kernel's or mount(8)'s message
 * when a mount fails.
 */
export async function mountAll(mounts: readonly Mount[], target: string, options: MountOptions = {}): Promise<void> {
  const root = await realpath(resolve(target)).catch((cause: unknown) => {
    throw invalidArgument(`mount target ${target} is not an existing directory`, { cause });
  });
  const helper = mounterFor(options);
  const done: string[] = [];
  try {
    for (const mount of mounts) {
      const bytes = Buffer.byteLength(mount.options.join(','));
      if (bytes > MAX_MOUNT_OPTIONS) {
        throw invalidArgument(`mount options of ${mount.type} are ${bytes} bytes; the kernel takes at most ${MAX_MOUNT_OPTIONS}`);
      }
      let dest = root;
      if (mount.target !== undefined && mount.target !== '' && mount.target !== '/') {
        dest = join(root, mount.target);
        const rel = relative(root, dest);
        if (rel.startsWith('..') || isAbsolute(rel)) throw invalidArgument(`mount target ${JSON.stringify(mount.target)} leaves ${root}`);
      }
      await mountOne(mount, dest, helper);
      done.push(dest);
    }
  } catch (err) {
    for (const dest of done.reverse()) await unmountAll(dest, options).catch(() => undefined);
    throw err;
  }
}

/** Options of unmountAll. */
export interface UnmountOptions extends MountOptions {
  /** Detach lazily (MNT_DETACH, umount -l) when the target is busy, instead of failing. */
  detach?: boolean;
}

/**
 * Unmounts everything mounted on target and below it, until target is no
 * mount point; nothing when it is none or does not exist. FailedPrecondition
 * when a mount stays busy (a process uses it) unless options.detach;
 * Internal when unmounting fails otherwise.
 */
export async function unmountAll(target: string, options: UnmountOptions = {}): Promise<void> {
  let root: string;
  try {
    root = await realpath(resolve(target));
  } catch {
    return;
  }
  const helper = mounterFor(options);
  const below = `${root}/`;
  const fail = (message: string): StrataError =>
    /busy/i.test(message)
      ? failedPrecondition(`unmount of ${root} failed: ${message}; stop what uses it first`)
      : internal(`unmount of ${root} failed: ${message}`);
  const flags = options.detach ? MNT_DETACH : 0;
  for (let attempt = 0; attempt < 64; attempt++) {
    const points = (await mountPoints()).filter((p) => p === root || p.startsWith(below));
    if (!points.includes(root)) return;
    if (helper === undefined) {
      const args = [...(points.length > 1 ? ['-R'] : []), ...(options.detach ? ['-l'] : []), root];
      const result = await run('umount', args);
      if (result.code !== 0) throw fail(result.stderr.trim() || `exit code ${result.code}`);
      continue;
    }
    for (const point of [...new Set(points.reverse())]) {
      const failure = await helper.unmount(point, flags);
      if (failure !== undefined && failure.errno !== EINVAL) throw fail(failure.message);
    }
    // One more umount2 of target tells whether it is still a mount point without
    // reading mountinfo again: EINVAL means it is none; success means another
    // mount was stacked below (unmounted now), and the next round looks again.
    if ((await helper.unmount(root, flags))?.errno === EINVAL) return;
  }
  throw internal(`unmount of ${root} failed: still a mount point after 64 unmounts`);
}
