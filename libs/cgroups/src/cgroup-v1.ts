import { dirname, join } from 'node:path';
import { failedPrecondition, isNotFound, isStrataError, notFound, unavailable, type Logger } from '@strata/kit';
import type { Cgroup, CgroupStats, WaitOptions } from './cgroup.js';
import {
  cpusFromQuota,
  formatMaxValue,
  memoryWorkingSet,
  oomKillCount,
  parseFreezerState,
  parseKeyedFile,
  parseMaxValue,
  parseProcs,
  parseV1CpuQuota,
  parseV1MemoryLimit,
} from './cgroup-files.js';
import { dirExists, errnoOf, makeCgroupDirs, readOptional, readRequired, removeCgroupDir, settleAll, sleep, writeControl } from './cgroup-io.js';
import type { V1Hierarchy } from './detect.js';
import { killEachUntilEmpty } from './kill-processes.js';
import { CPU_PERIOD_US, cpuQuota, validateLimits, type Limit, type Limits, type LimitsUpdate } from './limits.js';

/** What the v1 driver is built from (see openCgroup). */
export interface V1CgroupOptions {
  path: string;
  segments: string[];
  hierarchies: V1Hierarchy[];
  /** The cgroup2 mount of a hybrid host (`/sys/fs/cgroup/unified`), joined like runc does. */
  unified: string | undefined;
  logger: Logger;
  hostCpus: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The cgroup v1 driver: one directory per mounted hierarchy (cpu, cpuacct,
 * memory, pids, freezer, … and the unified one on hybrid hosts). See
 * {@link Cgroup} for the contract of each method.
 */
export function createV1Cgroup(options: V1CgroupOptions): Cgroup {
  const { path, segments, hierarchies, unified, logger, hostCpus } = options;
  const mountOf = (controller: string) => hierarchies.find((h) => h.controllers.includes(controller))?.mountpoint;
  const dirOf = (controller: string) => {
    const mount = mountOf(controller);
    return mount === undefined ? undefined : join(mount, ...segments);
  };
  const allMounts = [...hierarchies.map((h) => h.mountpoint), ...(unified === undefined ? [] : [unified])];
  const allDirs = () => allMounts.map((m) => join(m, ...segments));

  const requireDir = (controller: string): string => {
    const dir = dirOf(controller);
    if (dir === undefined) {
      throw failedPrecondition(`the ${controller} cgroup controller is not mounted on this host (cgroup v1)`, { fields: { cgroup: path } });
    }
    return dir;
  };

  const existingDirs = async (): Promise<string[]> => {
    const dirs = allDirs();
    const exists = await Promise.all(dirs.map((dir) => dirExists(dir)));
    return dirs.filter((_, i) => exists[i]);
  };

  const missing = () => notFound(`cgroup ${path} does not exist`, { fields: { cgroup: path } });

  async function requireExists(): Promise<void> {
    if ((await existingDirs()).length === 0) throw missing();
  }

  async function setMemory(limit: Limit): Promise<void> {
    const dir = requireDir('memory');
    const memFile = join(dir, 'memory.limit_in_bytes');
    const swFile = join(dir, 'memory.memsw.limit_in_bytes');
    const value = limit === 'max' ? '-1' : String(limit);
    const currentSw = await readOptional(swFile);
    if (currentSw === undefined) {
      await writeMemory(memFile, value, limit);
      return;
    }
    // memory must stay <= memory+swap at every step: raise memsw first when growing.
    const swNow = parseV1MemoryLimit(currentSw, swFile);
    const growing = limit === 'max' || (swNow !== 'max' && limit > swNow);
    if (growing) {
      await writeControl(swFile, value, path);
      await writeMemory(memFile, value, limit);
    } else {
      await writeMemory(memFile, value, limit);
      await writeControl(swFile, value, path);
    }
  }

  async function writeMemory(file: string, value: string, limit: Limit): Promise<void> {
    try {
      await writeControl(file, value, path);
    } catch (err) {
      if (isStrataError(err) && err.kind === 'FailedPrecondition') {
        throw failedPrecondition(
          `cannot set the memory limit of cgroup ${path} to ${String(limit)} bytes: its processes use more than that and cannot be reclaimed`,
          { fields: { cgroup: path }, cause: err },
        );
      }
      throw err;
    }
  }

  async function freezerState(): Promise<'THAWED' | 'FREEZING' | 'FROZEN'> {
    return parseFreezerState(await readRequired(join(requireDir('freezer'), 'freezer.state'), path));
  }

  async function setFreezer(target: 'FROZEN' | 'THAWED', timeoutMs: number): Promise<void> {
    const file = join(requireDir('freezer'), 'freezer.state');
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      // Tasks in vfork or a racing fork can keep a v1 cgroup FREEZING: write again,
      // and now and then thaw briefly to let them through (runc does the same).
      if (target === 'FROZEN' && attempt % 50 === 49) {
        await writeControl(file, 'THAWED', path);
        await sleep(10);
      }
      await writeControl(file, target, path);
      const state = await freezerState();
      if (state === target) return;
      if (Date.now() > deadline) {
        if (target === 'FROZEN') await writeControl(file, 'THAWED', path);
        throw unavailable(`cgroup ${path} did not become ${target} within ${timeoutMs} ms (it is ${state}); retry`, {
          fields: { cgroup: path },
        });
      }
      await sleep(attempt < 10 ? 1 : 10);
    }
  }

  const cgroup: Cgroup = {
    path,
    version: 1,

    async create() {
      // The hierarchies are independent of each other: each is made at the same time.
      await settleAll([
        ...hierarchies.map((hierarchy) =>
          makeCgroupDirs(hierarchy.mountpoint, segments, hierarchy.controllers.includes('cpuset') ? inheritCpuset(path) : undefined),
        ),
        ...(unified === undefined ? [] : [makeCgroupDirs(unified, segments)]),
      ]);
      logger.debug('cgroup created');
    },

    async exists() {
      return (await existingDirs()).length > 0;
    },

    async addProcess(pid) {
      const dirs = await existingDirs();
      if (dirs.length === 0) throw notFound(`cgroup ${path} does not exist`, { fields: { cgroup: path } });
      // One hierarchy after the other: the kernel moves a process under one global lock anyway (each move waiting
      // for an RCU grace period), and writes side by side would only hold that many threads of libuv's pool of 4,
      // which every file operation of the process shares, while they wait their turn.
      for (const dir of dirs) {
        try {
          await writeControl(join(dir, 'cgroup.procs'), String(pid), path);
        } catch (err) {
          if (errnoOf((err as Error).cause) === 'ESRCH') {
            throw notFound(`process ${pid} does not exist`, { fields: { cgroup: path, pid }, cause: err });
          }
          throw err;
        }
      }
    },

    async setLimits(update: LimitsUpdate) {
      validateLimits(update, hostCpus);
      await requireExists();
      if (update.memoryBytes !== undefined) await setMemory(update.memoryBytes);
      if (update.cpus !== undefined) {
        const dir = requireDir('cpu');
        const quota = update.cpus === 'max' ? '-1' : String(cpuQuota(update.cpus, hostCpus).quotaUs);
        await writeControl(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US), path);
        await writeControl(join(dir, 'cpu.cfs_quota_us'), quota, path);
      }
      if (update.pids !== undefined) {
        await writeControl(join(requireDir('pids'), 'pids.max'), formatMaxValue(update.pids), path);
      }
      if (update.cpuShares !== undefined) await writeControl(join(requireDir('cpu'), 'cpu.shares'), String(update.cpuShares), path);
      if (update.cpusetCpus !== undefined) await writeControl(join(requireDir('cpuset'), 'cpuset.cpus'), update.cpusetCpus, path);
      if (update.cpusetMems !== undefined) await writeControl(join(requireDir('cpuset'), 'cpuset.mems'), update.cpusetMems, path);
      logger.debug({ update }, 'cgroup limits set');
    },

    async limits(): Promise<Limits> {
      await requireExists();
      const memDir = dirOf('memory');
      const cpuDir = dirOf('cpu');
      const pidsDir = dirOf('pids');
      const mem = memDir === undefined ? undefined : await readOptional(join(memDir, 'memory.limit_in_bytes'));
      const quota = cpuDir === undefined ? undefined : await readOptional(join(cpuDir, 'cpu.cfs_quota_us'));
      const period = cpuDir === undefined ? undefined : await readOptional(join(cpuDir, 'cpu.cfs_period_us'));
      const pids = pidsDir === undefined ? undefined : await readOptional(join(pidsDir, 'pids.max'));
      const shares = cpuDir === undefined ? undefined : await readOptional(join(cpuDir, 'cpu.shares'));
      const cpusetDir = dirOf('cpuset');
      const cpusetCpus = cpusetDir === undefined ? undefined : await readOptional(join(cpusetDir, 'cpuset.cpus'));
      const cpusetMems = cpusetDir === undefined ? undefined : await readOptional(join(cpusetDir, 'cpuset.mems'));
      return {
        memoryBytes: mem === undefined ? 'max' : parseV1MemoryLimit(mem, 'memory.limit_in_bytes'),
        cpus: quota === undefined || period === undefined ? 'max' : cpusFromQuota(parseV1CpuQuota(quota), Number(period.trim())),
        pids: pids === undefined ? 'max' : parseMaxValue(pids, 'pids.max'),
        ...(shares === undefined ? {} : { cpuShares: Number(shares.trim()) }),
        ...(cpusetCpus === undefined ? {} : { cpusetCpus: cpusetCpus.trim() }),
        ...(cpusetMems === undefined ? {} : { cpusetMems: cpusetMems.trim() }),
      };
    },

    async stats(): Promise<CgroupStats> {
      await requireExists();
      const stats: CgroupStats = { cpuUsageNs: 0 };
      const acct = dirOf('cpuacct');
      if (acct !== undefined) stats.cpuUsageNs = Number((await readRequired(join(acct, 'cpuacct.usage'), path)).trim());
      const mem = dirOf('memory');
      if (mem !== undefined) {
        const usage = Number((await readRequired(join(mem, 'memory.usage_in_bytes'), path)).trim());
        const stat = parseKeyedFile(await readRequired(join(mem, 'memory.stat'), path), 'memory.stat');
        const limit = parseV1MemoryLimit(await readRequired(join(mem, 'memory.limit_in_bytes'), path), 'memory.limit_in_bytes');
        stats.memory = { usageBytes: memoryWorkingSet(usage, stat), limitBytes: limit };
      }
      const pids = dirOf('pids');
      if (pids !== undefined) {
        stats.pids = {
          current: Number((await readRequired(join(pids, 'pids.current'), path)).trim()),
          limit: parseMaxValue(await readRequired(join(pids, 'pids.max'), path), 'pids.max'),
        };
      }
      return stats;
    },

    async freeze(opts: WaitOptions = {}) {
      await setFreezer('FROZEN', opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      logger.debug('cgroup frozen');
    },

    async thaw(opts: WaitOptions = {}) {
      await setFreezer('THAWED', opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      logger.debug('cgroup thawed');
    },

    async isFrozen() {
      return (await freezerState()) === 'FROZEN';
    },

    async oomKills() {
      const mem = dirOf('memory');
      if (mem === undefined) {
        await requireExists();
        return 0;
      }
      // A cgroup that is not there has no memory.oom_control: NotFound without a stat per hierarchy first.
      const text = await readOptional(join(mem, 'memory.oom_control'));
      if (text === undefined) throw missing();
      const control = parseKeyedFile(text, 'memory.oom_control');
      const count = oomKillCount(control);
      if (count === undefined) {
        throw failedPrecondition('this kernel does not count OOM kills in memory.oom_control (Linux 4.13 or later is needed)');
      }
      return count;
    },

    async pids() {
      const dirs = await existingDirs();
      if (dirs.length === 0) throw notFound(`cgroup ${path} does not exist`, { fields: { cgroup: path } });
      const all = new Set<number>();
      for (const text of await Promise.all(dirs.map((dir) => readOptional(join(dir, 'cgroup.procs'))))) {
        for (const pid of parseProcs(text ?? '')) all.add(pid);
      }
      return [...all].sort((a, b) => a - b);
    },

    async killAll(opts: WaitOptions = {}) {
      // A cgroup that does not exist has no pids (pids() raises NotFound, taken as none below).
      const hasFreezer = dirOf('freezer') !== undefined;
      await killEachUntilEmpty(
        {
          path,
          pids: () => cgroup.pids().catch((err: unknown) => (isNotFound(err) ? [] : Promise.reject(err))),
          ...(hasFreezer ? { freeze: () => setFreezer('FROZEN', 1000), thaw: () => setFreezer('THAWED', 1000) } : {}),
        },
        opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        logger,
      );
      logger.debug('cgroup processes killed');
    },

    async remove(opts: WaitOptions = {}) {
      const deadline = Date.now() + (opts.timeoutMs ?? 2000);
      const dirs = allDirs();
      const removed = await settleAll(dirs.map((dir) => removeCgroupDir(dir, deadline)));
      const busy = dirs.filter((_, i) => !removed[i]);
      if (busy.length > 0) {
        throw failedPrecondition(`cgroup ${path} still has processes in ${busy.join(', ')}: kill them first`, { fields: { cgroup: path } });
      }
      logger.debug('cgroup removed');
    },
  };
  return cgroup;
}

/** A new v1 cpuset cgroup starts with no CPUs and no memory nodes: copy the parent's, like runc. */
function inheritCpuset(path: string) {
  return async (dir: string): Promise<void> => {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) await fillCpuset(dir, file, path);
  };
}

/**
 * Gives dir's cpuset file the value of its nearest ancestor that has one,
 * filling the empty ones on the way down, and resolves with it. An empty
 * parent is one that another create made a moment ago and is still
 * filling (two containers, or a container and its monitor, created at
 * once): copying its emptiness would leave a cgroup no process can join
 * (ENOSPC).
 */
async function fillCpuset(dir: string, file: string, path: string): Promise<string> {
  const own = (await readOptional(join(dir, file)))?.trim();
  if (own === undefined || own !== '') return own ?? '';
  const parent = dirname(dir);
  if (parent === dir) return own;
  const value = await fillCpuset(parent, file, path);
  if (value !== '') await writeControl(join(dir, file), value, path);
  return value;
}
