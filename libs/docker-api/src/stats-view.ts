import { readFile } from 'node:fs/promises';
import type { ContainerStats } from '@strata/api/containers/v1';

/** Nanoseconds per clock tick of /proc/stat (USER_HZ is 100 on Linux). */
const NS_PER_TICK = 10_000_000;

/** The host's CPU time since boot in nanoseconds, all CPUs (the first line of /proc/stat), as Docker's system_cpu_usage. */
export async function systemCpuNanos(procStat = '/proc/stat'): Promise<number> {
  const first = (await readFile(procStat, 'utf8')).split('\n', 1)[0] ?? '';
  const ticks = first
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .reduce((n, f) => n + (Number(f) || 0), 0);
  return ticks * NS_PER_TICK;
}

/** One CPU reading of a container, as Docker's cpu_stats. */
export interface CpuReading {
  totalUsage: number;
  systemUsage: number;
  onlineCpus: number;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

function cpuStats(reading: CpuReading | undefined) {
  return {
    cpu_usage: { total_usage: reading?.totalUsage ?? 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    ...(reading === undefined ? {} : { system_cpu_usage: reading.systemUsage, online_cpus: reading.onlineCpus }),
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/**
 * A container's stats in the shape of Docker's `GET /containers/{id}/stats`
 * (API 1.41+), from one sample of the Containers service: the docker CLI
 * computes CPU % from cpu_stats against precpu_stats (the reading before,
 * none for the first), and shows memory usage (the page cache already left
 * out) against the limit. Block and network I/O are not measured: null, as
 * Docker answers for a container without them.
 */
export function statsView(sample: ContainerStats, reading: CpuReading, previous: { read: string; reading: CpuReading } | undefined, read: string) {
  return {
    read,
    preread: previous?.read ?? ZERO_TIME,
    pids_stats: { current: sample.pidsCurrent, ...(sample.pidsLimit > 0 ? { limit: sample.pidsLimit } : {}) },
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(reading),
    precpu_stats: cpuStats(previous?.reading),
    memory_stats: { usage: sample.memoryUsageBytes, limit: sample.memoryLimitBytes, stats: {} },
    name: `/${sample.name}`,
    id: sample.id,
  };
}
