import { failedPrecondition, type Logger } from '@strata/kit';
import { validateCgroupPath, DEFAULT_CGROUP_PARENT } from './cgroup-path.js';
import { DEFAULT_CGROUP_ROOT, detectCgroupVersion, findV1Hierarchies, isCgroup2Mount, type CgroupVersion, type V1Hierarchy } from './detect.js';
import { hostCpuCount, type Limit, type Limits, type LimitsUpdate } from './limits.js';
import { createV1Cgroup } from './cgroup-v1.js';
import { createV2Cgroup } from './cgroup-v2.js';

/** What `stats()` reads from a container's cgroup. */
export interface CgroupStats {
  /** CPU time used by all its tasks, in nanoseconds (v1 cpuacct.usage, v2 cpu.stat usage_usec × 1000). */
  cpuUsageNs: number;
  /**
   * Memory in use without the inactive file cache, as `docker stats` shows it,
   * and the limit; undefined when the memory controller is not available.
   */
  memory?: { usageBytes: number; limitBytes: Limit };
  /** Tasks in the cgroup and the limit; undefined when the pids controller is not available. */
  pids?: { current: number; limit: Limit };
}

/** Options of freeze, thaw, killAll and remove. */
export interface WaitOptions {
  /** How long to wait for the kernel before giving up (milliseconds). */
  timeoutMs?: number;
}

/**
 * The cgroup of one container, on either cgroup version. The node-agent gives
 * runc the same path as `linux.cgroupsPath` (runc creates and joins it); this
 * manager can also create it itself (tests, update before start). All methods
 * act only on this path; none touches anything above it except creating
 * missing parents (and, on v2, enabling the cpu, memory and pids controllers
 * for them, as runc does).
 */
export interface Cgroup {
  /** The validated path, relative to each hierarchy's root, e.g. `/strata/<id>`. */
  readonly path: string;
  readonly version: CgroupVersion;
  /**
   * Creates the cgroup (and missing parents) in every hierarchy (v1: every
   * mounted one, plus the unified one on hybrid hosts, as runc does; v2: the
   * one tree). Idempotent. Raises Internal when the kernel refuses.
   */
  create(): Promise<void>;
  /** True when the cgroup exists. */
  exists(): Promise<boolean>;
  /**
   * Moves a process (and so its future children) into the cgroup in every
   * hierarchy. Raises NotFound when the cgroup or the process does not exist.
   */
  addProcess(pid: number): Promise<void>;
  /**
   * Sets the given limits on a live or new cgroup; fields left out stay.
   * Memory also sets memory+swap to the same value (no extra swap).
   * Raises InvalidArgument for out-of-range values (before writing
   * anything), NotFound when the cgroup does not exist, FailedPrecondition
   * when a needed controller is not available or (v1) memory cannot shrink
   * below what is in use.
   */
  setLimits(update: LimitsUpdate): Promise<void>;
  /** The limits in force, read back from the files (`'max'` for none or a missing controller). Raises NotFound. */
  limits(): Promise<Limits>;
  /** CPU, memory and pids usage. Raises NotFound when the cgroup does not exist. */
  stats(): Promise<CgroupStats>;
  /**
   * Freezes every task (v1 freezer.state FROZEN, v2 cgroup.freeze) and
   * returns once the kernel reports the cgroup frozen. Raises
   * FailedPrecondition without a freezer, Unavailable (after thawing again)
   * when it does not freeze within the timeout (10 s by default), NotFound.
   */
  freeze(options?: WaitOptions): Promise<void>;
  /** Thaws the cgroup and waits until the kernel reports it thawed. Same errors as freeze. */
  thaw(options?: WaitOptions): Promise<void>;
  /** True when the kernel reports the cgroup frozen. Raises NotFound. */
  isFrozen(): Promise<boolean>;
  /**
   * How many tasks the kernel OOM-killed in this cgroup since it was created
   * (v1 memory.oom_control, v2 memory.events `oom_kill`). The count only
   * grows: report an OOM once by remembering the last count seen. 0 when the
   * memory controller is not available. Raises NotFound, and
   * FailedPrecondition on kernels that do not count OOM kills (before 4.13).
   */
  oomKills(): Promise<number>;
  /** The pids of the processes in the cgroup (every v1 hierarchy merged), ascending. Raises NotFound. */
  pids(): Promise<number[]>;
  /**
   * SIGKILLs every process in the cgroup and waits until none is left: v2
   * cgroup.kill when the kernel has it, else freeze, SIGKILL each pid in
   * cgroup.procs, thaw, repeated until empty (so forks cannot escape).
   * A cgroup that does not exist is already empty. Raises Unavailable when
   * processes remain after the timeout (10 s by default).
   */
  killAll(options?: WaitOptions): Promise<void>;
  /**
   * Removes the cgroup (and any child cgroups) from every hierarchy it exists
   * in, retrying briefly while exiting tasks keep it busy. Missing is fine.
   * Raises FailedPrecondition when live processes keep it busy (killAll first).
   */
  remove(options?: WaitOptions): Promise<void>;
}

/** Options of {@link openCgroup}. */
export interface CgroupOptions {
  logger: Logger;
  /** Forces a driver; detected with {@link detectCgroupVersion} when left out. */
  version?: CgroupVersion;
  /** Paths must be strictly below this parent (default `/strata`). */
  parent?: string;
  /**
   * Where the cgroup file systems are mounted (default `/sys/fs/cgroup`):
   * on v2 the cgroup2 mount itself, on v1 the directory holding one mount
   * per hierarchy.
   */
  root?: string;
  /** The host's CPU count that bounds `cpus` (default: os.cpus().length). */
  hostCpus?: number;
}

/**
 * Opens the cgroup at path (e.g. `/strata/<container id>`) with the driver
 * of the host's cgroup version. Nothing is created until `create()`. Raises
 * InvalidArgument for a path that is not a plain absolute path strictly
 * below the parent, FailedPrecondition when no cgroup file system is mounted.
 */
export async function openCgroup(path: string, options: CgroupOptions): Promise<Cgroup> {
  const parent = options.parent ?? DEFAULT_CGROUP_PARENT;
  const segments = validateCgroupPath(path, parent);
  const root = options.root ?? DEFAULT_CGROUP_ROOT;
  const layout = await mountLayout(root, options.version);
  const logger = options.logger.child({ cgroup: path });
  const hostCpus = options.hostCpus ?? hostCpuCount();
  if (layout.version === 2) return createV2Cgroup({ path, segments, root, logger, hostCpus });
  return createV1Cgroup({ path, segments, hierarchies: layout.hierarchies, unified: layout.unified, logger, hostCpus });
}

/** How the cgroup file systems under a root are mounted. */
type MountLayout = { version: 2 } | { version: 1; hierarchies: V1Hierarchy[]; unified: string | undefined };

const layouts = new Map<string, Promise<MountLayout>>();

/**
 * The layout under root, read once per process and root (a node's cgroup
 * mounts do not change while it runs; reading them costs a statfs per
 * hierarchy and a read of /proc/self/mountinfo, which grows with every
 * container's mounts). A failed read is not kept.
 */
function mountLayout(root: string, forced: CgroupVersion | undefined): Promise<MountLayout> {
  const key = `${root}\0${forced ?? ''}`;
  let pending = layouts.get(key);
  if (pending === undefined) {
    pending = readMountLayout(root, forced);
    layouts.set(key, pending);
    pending.catch(() => layouts.delete(key));
  }
  return pending;
}

async function readMountLayout(root: string, forced: CgroupVersion | undefined): Promise<MountLayout> {
  const version = forced ?? (await detectCgroupVersion(root));
  if (version === 2) {
    if (!(await isCgroup2Mount(root))) throw failedPrecondition(`no cgroup2 file system is mounted at ${root}`);
    return { version };
  }
  const hierarchies = await findV1Hierarchies(root);
  if (hierarchies.length === 0) throw failedPrecondition(`no cgroup v1 hierarchies are mounted under ${root}`);
  const unifiedMount = `${root}/unified`;
  return { version, hierarchies, unified: (await isCgroup2Mount(unifiedMount)) ? unifiedMount : undefined };
}
