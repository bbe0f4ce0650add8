import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcess, tempDir, type TestProcess } from '@strata/kit/testing';
import type { Cgroup } from '../cgroup.js';
import { DEFAULT_CGROUP_ROOT, findV1Hierarchies, isCgroup2Mount } from '../detect.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A unique cgroup parent for one test, and its removal. */
export interface TestCgroupParent {
  /** `/strata-test-<random>`: pass it as `parent` and build paths below it. */
  readonly path: string;
  /**
   * Kills the processes left in any cgroup below the parent (by the pids in
   * their cgroup.procs: only what the test put there), thaws, and removes
   * every cgroup below and including the parent in every hierarchy.
   */
  remove(): Promise<void>;
}

/** The hierarchy mount points a test parent may appear in: every v1 hierarchy under root, the unified one, or root on v2. */
export async function cgroupMounts(root = DEFAULT_CGROUP_ROOT): Promise<string[]> {
  if (await isCgroup2Mount(root)) return [root];
  const mounts = (await findV1Hierarchies(root)).map((h) => h.mountpoint);
  if (await isCgroup2Mount(join(root, 'unified'))) mounts.push(join(root, 'unified'));
  return mounts;
}

async function childDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

async function tryWrite(file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text);
  } catch {
    // the file does not exist in this hierarchy
  }
}

async function thawTree(dir: string): Promise<void> {
  await tryWrite(join(dir, 'freezer.state'), 'THAWED');
  await tryWrite(join(dir, 'cgroup.freeze'), '0');
  for (const child of await childDirs(dir)) await thawTree(child);
}

async function killTree(dir: string): Promise<void> {
  for (const child of await childDirs(dir)) await killTree(child);
  for (let round = 0; round < 200; round++) {
    let text = '';
    try {
      text = await readFile(join(dir, 'cgroup.procs'), 'utf8');
    } catch {
      return;
    }
    const pids = text.split('\n').filter(Boolean).map(Number);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(10);
  }
}

async function removeTree(dir: string): Promise<void> {
  for (const child of await childDirs(dir)) await removeTree(child);
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return;
      await sleep(20);
    }
  }
  throw new Error(`test cgroup ${dir} could not be removed`);
}

/**
 * A fresh `/strata-test-<random>` parent (not created: the manager creates
 * it with the first cgroup). Call `remove()` in afterEach.
 */
export function testCgroupParent(root = DEFAULT_CGROUP_ROOT): TestCgroupParent {
  const path = `/strata-test-${randomBytes(5).toString('hex')}`;
  return {
    path,
    async remove() {
      const mounts = await cgroupMounts(root);
      for (const mount of mounts) await thawTree(join(mount, path));
      for (const mount of mounts) await killTree(join(mount, path));
      for (const mount of mounts) await removeTree(join(mount, path));
    },
  };
}

/**
 * Starts `sh -c script` inside cgroup: the shell waits on stdin until its pid
 * has joined the cgroup, then runs the script, so everything the script
 * starts is in the cgroup from its first instruction. Stop it with
 * `stop()` (by pid).
 */
export async function startInCgroup(cgroup: Cgroup, script: string): Promise<TestProcess> {
  const proc = startProcess('sh', ['-c', 'read _ignored; exec sh -c "$1"', 'sh', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await cgroup.addProcess(proc.pid);
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
  proc.child.stdin?.end('go\n');
  return proc;
}

/** A private mount of the cgroup2 file system in a temp dir (the one unified tree), and its unmount. */
export interface Cgroup2Mount {
  readonly root: string;
  unmount(): void;
}

/**
 * Mounts cgroup2 on a fresh temp dir, or returns undefined when the kernel
 * refuses. On a v1 host it shows the same tree as /sys/fs/cgroup/unified,
 * with only the controllers no v1 hierarchy holds. Remove test cgroups
 * before `unmount()`.
 */
export function mountCgroup2(): Cgroup2Mount | undefined {
  const dir = tempDir('strata-cgroup2-');
  const mounted = spawnSync('mount', ['-t', 'cgroup2', 'none', dir.path], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    dir.remove();
    return undefined;
  }
  return {
    root: dir.path,
    unmount() {
      const result = spawnSync('umount', [dir.path], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`umount ${dir.path} failed: ${result.stderr}`);
      dir.remove();
    },
  };
}
