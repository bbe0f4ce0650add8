import { accessSync, constants, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, open, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, internal, invalidArgument, isStrataError, notFound, type StrataError } from '@strata/kit';

/** The errno code of a Node.js system error, or undefined. */
export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/**
 * Waits for every promise to settle (nothing is left running in the
 * background), then resolves with their values in order, or rejects with
 * the first rejection in list order.
 */
export async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Resolves after ms milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Reads, stats and listings of cgroupfs are made synchronously: the kernel
// answers them from memory in microseconds, while each asynchronous call
// costs a trip through libuv's thread pool and a promise (on cgroup v1 a
// container's cgroup is a directory in each of ~11 hierarchies, so a check
// or a listing is ~11 calls, ~5 ms of the agent's CPU per container in all).
// Writes, mkdir and rmdir stay asynchronous: a write can reclaim memory or
// migrate processes (an RCU grace period per hierarchy), and mkdir and rmdir
// wait for the cgroup lock that such a migration holds.

/** Reads a cgroup file; undefined when it does not exist (a controller that is not there). */
export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw internal(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a cgroup file that must exist; NotFound names the cgroup when it is gone. */
export async function readRequired(file: string, cgroup: string): Promise<string> {
  const text = await readOptional(file);
  if (text === undefined) throw notFound(`cgroup ${cgroup} does not exist (no ${file})`, { fields: { cgroup } });
  return text;
}

/**
 * Writes text to a cgroup control file in one write(2), without creating or
 * truncating it. Kernel refusals become Strata errors: ENOENT → NotFound,
 * EINVAL → InvalidArgument, EBUSY → FailedPrecondition, others Internal.
 */
export async function writeControl(file: string, text: string, cgroup: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, constants.O_WRONLY);
  } catch (err) {
    throw translate(err, file, text, cgroup);
  }
  try {
    await handle.write(text);
  } catch (err) {
    throw translate(err, file, text, cgroup);
  } finally {
    await handle.close();
  }
}

function translate(err: unknown, file: string, text: string, cgroup: string): StrataError {
  if (isStrataError(err)) return err;
  const fields = { cgroup, file };
  switch (errnoOf(err)) {
    case 'ENOENT':
      return notFound(`cgroup ${cgroup} does not exist (no ${file})`, { fields, cause: err });
    case 'EINVAL':
      return invalidArgument(`the kernel refused ${JSON.stringify(text)} for ${file}`, { fields, cause: err });
    case 'EBUSY':
      return failedPrecondition(`the kernel refused ${JSON.stringify(text)} for ${file} while the cgroup is in use`, { fields, cause: err });
    default:
      return internal(`cannot write ${JSON.stringify(text)} to ${file}: ${(err as Error).message}`, { fields, cause: err });
  }
}

/** True when path exists (cgroup control files may be write-only, like cgroup.kill). */
export async function fileExists(path: string): Promise<boolean> {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when the cgroup directory dir exists. */
export async function dirExists(dir: string): Promise<boolean> {
  return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/**
 * Creates dir and its missing parents; `onCreated` runs for each directory
 * this call made, top down. The leaf is tried first: when its parent is
 * there already (the common case: the agent's parent cgroup) that is the
 * one call made.
 */
export async function makeCgroupDirs(root: string, segments: readonly string[], onCreated?: (dir: string, parent: string) => Promise<void>): Promise<void> {
  if (segments.length > 0) {
    const leaf = join(root, ...segments);
    try {
      await mkdir(leaf);
      if (onCreated !== undefined) await onCreated(leaf, join(root, ...segments.slice(0, -1)));
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'EEXIST') return;
      if (code !== 'ENOENT') throw internal(`cannot create cgroup directory ${leaf}: ${(err as Error).message}`, { cause: err });
    }
  }
  let dir = root;
  for (const segment of segments) {
    const parent = dir;
    dir = join(dir, segment);
    try {
      await mkdir(dir);
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') continue;
      throw internal(`cannot create cgroup directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    if (onCreated !== undefined) await onCreated(dir, parent);
  }
}

/**
 * Removes the cgroup directory dir and any child cgroups below it, deepest
 * first, retrying EBUSY (tasks still exiting) with backoff until `deadline`
 * (a Date.now() value). Missing directories are fine. Returns false when dir
 * stayed busy. The directory is removed before it is listed: a cgroup
 * without children (the rule) costs one rmdir, not a listing of its ~20-40
 * control files; one with children refuses with EBUSY, like one with tasks.
 */
export async function removeCgroupDir(dir: string, deadline: number): Promise<boolean> {
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY') throw internal(`cannot remove cgroup directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return true;
      throw internal(`cannot list cgroup directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const children = entries.filter((entry) => entry.isDirectory());
    for (const child of children) {
      if (!(await removeCgroupDir(join(dir, child.name), deadline))) return false;
    }
    // Busy with tasks, not children: they are exiting (or are to be killed by the caller).
    if (children.length === 0) {
      if (Date.now() >= deadline) return false;
      await sleep(delay);
    }
  }
}
