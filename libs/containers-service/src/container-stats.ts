import { totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cgroup } from '@strata/cgroups';
import { isRunning, type ContainerRecord } from '@strata/containers';
import { isNotFound } from '@strata/kit';

/** One container's resource use. */
export interface ContainerStatsSample {
  id: string;
  name: string;
  cpuPercent: number;
  cpuUsageNanos: number;
  memoryUsageBytes: number;
  memoryLimitBytes: number;
  pidsCurrent: number;
  pidsLimit: number;
}

/** Samples containers' cgroups for `stats`, keeping each one's last CPU reading for the next percentage. */
export interface StatsSampler {
  /**
   * A sample of each container, in order: a container sampled for the
   * first time is read twice, 250 ms apart (once for all of them), for a
   * CPU percentage over that time, as `docker stats --no-stream` shows one;
   * later samples measure from the one before. A container whose cgroup is
   * gone shows zeros; memory without a limit shows the node's memory.
   */
  sample(containers: readonly ContainerRecord[]): Promise<ContainerStatsSample[]>;
  /** Drops the container's last reading (its run ended). */
  forget(id: string): void;
}

/** What the next percentage of a container measures from: when (performance.now()) and its CPU time then. */
interface CpuReading {
  at: number;
  usage: number;
}

/** A sampler that reads cgroups through cgroupOf. */
export function createStatsSampler(cgroupOf: (id: string) => Promise<Cgroup>): StatsSampler {
  const readings = new Map<string, CpuReading>();
  const read = async (r: ContainerRecord) => {
    const cg = await cgroupOf(r.id);
    try {
      return await cg.stats();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  return {
    async sample(containers) {
      const first = await Promise.all(containers.map(async (r) => ({ r, s: await read(r), at: performance.now() })));
      if (first.some(({ r, s }) => s !== undefined && !readings.has(r.id))) {
        for (const { r, s, at } of first) if (s !== undefined && !readings.has(r.id)) readings.set(r.id, { at, usage: s.cpuUsageNs });
        await sleep(250);
      }
      const out: ContainerStatsSample[] = [];
      for (const r of containers) {
        const s = await read(r);
        const at = performance.now();
        const prev = readings.get(r.id);
        let cpuPercent = 0;
        if (s !== undefined && prev !== undefined && at > prev.at) cpuPercent = ((s.cpuUsageNs - prev.usage) / ((at - prev.at) * 1e6)) * 100;
        if (s !== undefined && isRunning(r)) readings.set(r.id, { at, usage: s.cpuUsageNs });
        const limit = s?.memory?.limitBytes;
        out.push({
          id: r.id,
          name: r.name,
          cpuPercent: Math.max(0, cpuPercent),
          cpuUsageNanos: s?.cpuUsageNs ?? 0,
          memoryUsageBytes: s?.memory?.usageBytes ?? 0,
          memoryLimitBytes: limit === undefined || limit === 'max' ? Math.min(totalmem(), Number.MAX_SAFE_INTEGER) : Math.min(limit, totalmem()),
          pidsCurrent: s?.pids?.current ?? 0,
          pidsLimit: s?.pids === undefined || s.pids.limit === 'max' ? -1 : s.pids.limit,
        });
      }
      return out;
    },
    forget(id) {
      readings.delete(id);
    },
  };
}
