import { join } from 'node:path';
import { failedPrecondition, isNotFound, notFound, unavailable, type Logger } from '@strata/kit';
import type { Cgroup, CgroupStats, WaitOptions } from './cgroup.js';
import {
  cpusFromQuota,
  formatCpuMax,
  formatMaxValue,
  memoryWorkingSet,
  oomKillCount,
  parseCpuMax,
  parseKeyedFile,
  parseMaxValue,
  parseProcs,
} from './cgroup-files.js';
import { dirExists, errnoOf, fileExists, makeCgroupDirs, readOptional, readRequired, removeCgroupDir, sleep, writeControl } from './cgroup-io.js';
import { killEachUntilEmpty } from './kill-processes.js';
import { CPU_PERIOD_US, cpuQuota, cpuSharesOfWeight, cpuWeightOfShares, validateLimits, type Limits, type LimitsUpdate } from './limits.js';

/** What the v2 driver is built from (see openCgroup). */
export interface V2CgroupOptions {
  path: string;
  segments: string[];
  /** The cgroup2 mount point. */
  root: string;
  logger: Logger;
  hostCpus: number;
}

/** The controllers Strata enables for its cgroups' parents, when the host offers them. */
export const V2_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids'] as const;

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The cgroup v2 driver: one directory in the unified tree. On create, the
 * cpu, cpuset, memory and pids controllers that the parents offer are enabled in
 * their cgroup.subtree_control, as runc does. See {@link Cgroup} for the
 * contract of each method.
 */
export function createV2Cgroup(options: V2CgroupOptions): Cgroup {
  const { path, segments, root, logger, hostCpus } = options;
  const dir = join(root, ...segments);
  const file = (name: string) => join(dir, name);

  async function requireExists(): Promise<void> {
    if (!(await dirExists(dir))) throw notFound(`cgroup ${path} does not exist`, { fields: { cgroup: path } });
  }

  async function requireFile(name: string, controller: string): Promise<string> {
    if (!(await fileExists(file(name)))) {
      await requireExists();
      throw failedPrecondition(
        `the ${controller} controller is not enabled for cgroup ${path} (cgroup v2): the host must offer it and the parent must enable it in cgroup.subtree_control`,
        { fields: { cgroup: path } },
      );
    }
    return file(name);
  }

  async function enableControllers(parentDir: string): Promise<void> {
    const offered = ((await readOptional(join(parentDir, 'cgroup.controllers'))) ?? '').trim().split(/\s+/);
    const enabled = ((await readOptional(join(parentDir, 'cgroup.subtree_control'))) ?? '').trim().split(/\s+/);
    const wanted = V2_CONTROLLERS.filter((c) => offered.includes(c) && !enabled.includes(c));
    if (wanted.length === 0) return;
    try {
      await writeControl(join(parentDir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '), path);
    } catch (err) {
      logger.warn({ err, parent: parentDir, controllers: wanted }, 'cannot enable cgroup v2 controllers for the parent');
    }
  }

  async function events(): Promise<Map<string, number>> {
    return parseKeyedFile(await readRequired(file('cgroup.events'), path), 'cgroup.events');
  }

  async function setFrozen(frozen: boolean, timeoutMs: number): Promise<void> {
    const freezeFile = await requireFile('cgroup.freeze', 'freezer (cgroup.freeze, Linux 5.2+)');
    await writeControl(freezeFile, frozen ? '1' : '0', path);
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      if ((await events()).get('frozen') === (frozen ? 1 : 0)) return;
      if (Date.now() > deadline) {
        if (frozen) await writeControl(freezeFile, '0', path);
        throw unavailable(`cgroup ${path} did not become ${frozen ? 'frozen' : 'thawed'} within ${timeoutMs} ms; retry`, {
          fields: { cgroup: path },
        });
      }
      await sleep(attempt < 10 ? 1 : 10);
    }
  }

  async function procs(): Promise<number[]> {
    await requireExists();
    return parseProcs(await readRequired(file('cgroup.procs'), path)).sort((a, b) => a - b);
  }

  const cgroup: Cgroup = {
    path,
    version: 2,

    async create() {
      let parentDir = root;
      for (const segment of segments) {
        await enableControllers(parentDir);
        await makeCgroupDirs(parentDir, [segment]);
        parentDir = join(parentDir, segment);
      }
      logger.debug('cgroup created');
    },

    exists: () => dirExists(dir),

    async addProcess(pid) {
      await requireExists();
      try {
        await writeControl(file('cgroup.procs'), String(pid), path);
      } catch (err) {
        if (errnoOf((err as Error).cause) === 'ESRCH') {
          throw notFound(`process ${pid} does not exist`, { fields: { cgroup: path, pid }, cause: err });
        }
        throw err;
      }
    },

    async setLimits(update: LimitsUpdate) {
      validateLimits(update, hostCpus);
      await requireExists();
      if (update.memoryBytes !== undefined) {
        await writeControl(await requireFile('memory.max', 'memory'), formatMaxValue(update.memoryBytes), path);
        if (await fileExists(file('memory.swap.max'))) {
          await writeControl(file('memory.swap.max'), update.memoryBytes === 'max' ? 'max' : '0', path);
        }
      }
      if (update.cpus !== undefined) {
        const quota = update.cpus === 'max' ? 'max' : cpuQuota(update.cpus, hostCpus).quotaUs;
        await writeControl(await requireFile('cpu.max', 'cpu'), formatCpuMax(quota, CPU_PERIOD_US), path);
      }
      if (update.pids !== undefined) {
        await writeControl(await requireFile('pids.max', 'pids'), formatMaxValue(update.pids), path);
      }
      if (update.cpuShares !== undefined) await writeControl(await requireFile('cpu.weight', 'cpu'), String(cpuWeightOfShares(update.cpuShares)), path);
      if (update.cpusetCpus !== undefined) await writeControl(await requireFile('cpuset.cpus', 'cpuset'), update.cpusetCpus, path);
      if (update.cpusetMems !== undefined) await writeControl(await requireFile('cpuset.mems', 'cpuset'), update.cpusetMems, path);
      logger.debug({ update }, 'cgroup limits set');
    },

    async limits(): Promise<Limits> {
      await requireExists();
      const mem = await readOptional(file('memory.max'));
      const cpu = await readOptional(file('cpu.max'));
      const pids = await readOptional(file('pids.max'));
      const cpuMax = cpu === undefined ? undefined : parseCpuMax(cpu);
      const weight = await readOptional(file('cpu.weight'));
      const shares = weight === undefined ? undefined : cpuSharesOfWeight(Number(weight.trim()));
      // An empty cpuset.cpus/mems is the parent's; the effective files say what is in force.
      const cpusetCpus = await readOptional(file('cpuset.cpus.effective'));
      const cpusetMems = await readOptional(file('cpuset.mems.effective'));
      return {
        memoryBytes: mem === undefined ? 'max' : parseMaxValue(mem, 'memory.max'),
        cpus: cpuMax === undefined ? 'max' : cpusFromQuota(cpuMax.quotaUs, cpuMax.periodUs),
        pids: pids === undefined ? 'max' : parseMaxValue(pids, 'pids.max'),
        ...(shares === undefined ? {} : { cpuShares: shares }),
        ...(cpusetCpus === undefined ? {} : { cpusetCpus: cpusetCpus.trim() }),
        ...(cpusetMems === undefined ? {} : { cpusetMems: cpusetMems.trim() }),
      };
    },

    async stats(): Promise<CgroupStats> {
      await requireExists();
      const cpu = parseKeyedFile(await readRequired(file('cpu.stat'), path), 'cpu.stat');
      const stats: CgroupStats = { cpuUsageNs: (cpu.get('usage_usec') ?? 0) * 1000 };
      const current = await readOptional(file('memory.current'));
      if (current !== undefined) {
        const stat = parseKeyedFile(await readRequired(file('memory.stat'), path), 'memory.stat');
        stats.memory = {
          usageBytes: memoryWorkingSet(Number(current.trim()), stat),
          limitBytes: parseMaxValue(await readRequired(file('memory.max'), path), 'memory.max'),
        };
      }
      const pidsCurrent = await readOptional(file('pids.current'));
      if (pidsCurrent !== undefined) {
        stats.pids = {
          current: Number(pidsCurrent.trim()),
          limit: parseMaxValue(await readRequired(file('pids.max'), path), 'pids.max'),
        };
      }
      return stats;
    },

    async freeze(opts: WaitOptions = {}) {
      await setFrozen(true, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      logger.debug('cgroup frozen');
    },

    async thaw(opts: WaitOptions = {}) {
      await setFrozen(false, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      logger.debug('cgroup thawed');
    },

    async isFrozen() {
      await requireExists();
      return (await events()).get('frozen') === 1;
    },

    async oomKills() {
      await requireExists();
      const text = await readOptional(file('memory.events'));
      if (text === undefined) return 0;
      return oomKillCount(parseKeyedFile(text, 'memory.events')) ?? 0;
    },

    pids: procs,

    async killAll(opts: WaitOptions = {}) {
      if (!(await dirExists(dir))) return;
      const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const safeProcs = () => procs().catch((err: unknown) => (isNotFound(err) ? [] : Promise.reject(err)));
      if (await fileExists(file('cgroup.kill'))) {
        await writeControl(file('cgroup.kill'), '1', path);
        await killEachUntilEmpty({ path, pids: safeProcs }, timeoutMs, logger);
      } else {
        const hasFreezer = await fileExists(file('cgroup.freeze'));
        await killEachUntilEmpty(
          {
            path,
            pids: safeProcs,
            ...(hasFreezer ? { freeze: () => setFrozen(true, 1000), thaw: () => setFrozen(false, 1000) } : {}),
          },
          timeoutMs,
          logger,
        );
      }
      logger.debug('cgroup processes killed');
    },

    async remove(opts: WaitOptions = {}) {
      if (!(await removeCgroupDir(dir, Date.now() + (opts.timeoutMs ?? 2000)))) {
        throw failedPrecondition(`cgroup ${path} still has processes: kill them first`, { fields: { cgroup: path } });
      }
      logger.debug('cgroup removed');
    },
  };
  return cgroup;
}
