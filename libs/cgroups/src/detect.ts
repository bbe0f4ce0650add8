import { readFile, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { failedPrecondition } from '@strata/kit';

/** Which cgroup API a host uses: 1 (legacy, one hierarchy per controller, incl. hybrid hosts) or 2 (unified). */
export type CgroupVersion = 1 | 2;

/** Where cgroup file systems are mounted on a standard host. */
export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * Detects the cgroup version the way runc does: 2 when `root` itself is a
 * cgroup2 file system (unified mode), else 1 — so a hybrid host (v1
 * controllers plus a cgroup2 mount at `root/unified`) is driven as v1, with
 * the unified hierarchy only tracking processes. Raises FailedPrecondition
 * when nothing is mounted at root.
 */
export async function detectCgroupVersion(root = DEFAULT_CGROUP_ROOT): Promise<CgroupVersion> {
  try {
    const stats = await statfs(root);
    return stats.type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch (cause) {
    throw failedPrecondition(`no cgroup file system at ${root}: mount cgroups (v1 or v2) there first`, { cause });
  }
}

/** True when path is a mounted cgroup2 file system. */
export async function isCgroup2Mount(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** One mounted v1 hierarchy: its mount point and the controllers bound to it (`name=systemd` for named ones). */
export interface V1Hierarchy {
  mountpoint: string;
  controllers: string[];
}

const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio',
  'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The v1 hierarchies in a /proc/self/mountinfo text, one per mount point,
 * keeping only those mounted directly under root (so other mounts of the same
 * hierarchy elsewhere are ignored).
 */
export function parseV1Hierarchies(mountinfo: string, root = DEFAULT_CGROUP_ROOT): V1Hierarchy[] {
  const out: V1Hierarchy[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep === -1) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    if (after[0] !== 'cgroup') continue;
    const mountpoint = unescapeMount(before[4] ?? '');
    if (dirname(mountpoint) !== root) continue;
    const controllers = (after[2] ?? '').split(',').filter((o) => V1_CONTROLLERS.has(o) || o.startsWith('name='));
    if (controllers.length > 0) out.push({ mountpoint, controllers });
  }
  return out;
}

/** The v1 hierarchies mounted under root on this host (see {@link parseV1Hierarchies}). */
export async function findV1Hierarchies(root = DEFAULT_CGROUP_ROOT): Promise<V1Hierarchy[]> {
  return parseV1Hierarchies(await readFile('/proc/self/mountinfo', 'utf8'), root);
}
