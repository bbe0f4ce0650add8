import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@strata/kit/testing';
import { describe, expect, it } from 'vitest';
import { statsView, systemCpuNanos } from './stats-view.js';

const sample = { id: 'a'.repeat(64), name: 'web', cpuPercent: 50, cpuUsageNanos: 3e9, memoryUsageBytes: 1 << 20, memoryLimitBytes: 64 << 20, pidsCurrent: 2, pidsLimit: 100 };

describe('Docker stats', () => {
  it("sums the host's CPU ticks of /proc/stat's first line, in nanoseconds", async () => {
    const dir = tempDir('strata-stats-');
    try {
      const file = join(dir.path, 'stat');
      writeFileSync(file, 'cpu  100 5 50 1000 10 0 2 0 0 0\ncpu0 50 2 25 500 5 0 1 0 0 0\n');
      expect(await systemCpuNanos(file)).toBe(1167 * 10_000_000);
    } finally {
      dir.remove();
    }
  });

  it('gives the docker CLI what it computes CPU %, memory and pids from', () => {
    const before = { read: '2026-11-29T07:00:00.000Z', reading: { totalUsage: 2e9, systemUsage: 100e9, onlineCpus: 2 } };
    const view = statsView(sample, { totalUsage: 3e9, systemUsage: 102e9, onlineCpus: 2 }, before, '2026-11-29T07:00:01.000Z');
    expect(view).toMatchObject({
      read: '2026-11-29T07:00:01.000Z',
      preread: before.read,
      name: '/web',
      pids_stats: { current: 2, limit: 100 },
      memory_stats: { usage: 1 << 20, limit: 64 << 20 },
      cpu_stats: { cpu_usage: { total_usage: 3e9 }, system_cpu_usage: 102e9, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 2e9 }, system_cpu_usage: 100e9, online_cpus: 2 },
    });
    // The docker CLI's CPU %: usage delta over system delta, times the CPUs: 1e9 / 2e9 * 2 * 100.
    const cpu = ((view.cpu_stats.cpu_usage.total_usage - view.precpu_stats.cpu_usage.total_usage) / (102e9 - 100e9)) * 2 * 100;
    expect(cpu).toBe(100);
  });

  it('has an empty reading before the first sample, and no pids limit when there is none', () => {
    const view = statsView({ ...sample, pidsLimit: -1 }, { totalUsage: 1, systemUsage: 2, onlineCpus: 1 }, undefined, '2026-11-29T07:00:00.000Z');
    expect(view.preread).toBe('0001-01-01T00:00:00Z');
    expect(view.precpu_stats).toEqual({ cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });
    expect(view.pids_stats).toEqual({ current: 2 });
  });
});
