import { cpus as hostCpuList } from 'node:os';
import { invalidArgument } from '@strata/kit';

/** A limit value: a number, or `'max'` for no limit (the word cgroup v2 files use). */
export type Limit = number | 'max';

/**
 * The limits of one container's cgroup. `memoryBytes` also caps memory plus
 * swap at the same value (no extra swap, Docker's default when `--memory` is
 * set); `cpus` is a fraction of CPUs (0.5 = half of one CPU) enforced as a CFS
 * quota over a 100 ms period; `pids` caps the number of tasks.
 */
export interface Limits {
  memoryBytes: Limit;
  cpus: Limit;
  pids: Limit;
}

/** A change of limits: fields left out stay as they are. */
export type LimitsUpdate = Partial<Limits>;

/** Docker's smallest memory limit (6 MiB): below it a container cannot even start. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** The CFS period Strata uses, like Docker: 100 ms. */
export const CPU_PERIOD_US = 100_000;

/** The kernel's smallest CFS quota (1 ms), hence the smallest `cpus` is 0.01. */
export const MIN_CPU_QUOTA_US = 1000;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a Docker-style memory size: a whole number of bytes or a number with
 * a binary unit `b`, `k`, `m`, `g`, `t` (case-insensitive, an optional trailing
 * `b` as in `64mb`), e.g. `64m` → 67108864, `1.5g`. Raises InvalidArgument for
 * anything else, including sizes that are not a whole number of bytes or
 * exceed 2^53.
 */
export function parseMemory(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*$/i.exec(text);
  if (m === null) {
    throw invalidArgument(`invalid memory size ${JSON.stringify(text)}: expected a number with an optional unit b, k, m, g or t, like 64m`);
  }
  const bytes = Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
  if (!Number.isSafeInteger(bytes)) {
    throw invalidArgument(`invalid memory size ${JSON.stringify(text)}: it must be a whole number of bytes below 2^53`);
  }
  return bytes;
}

let cpuCount: number | undefined;

/**
 * The number of CPUs of this host, the upper bound of `cpus`; read once per
 * process (os.cpus() parses /proc/cpuinfo, ~1.5 ms, and every cgroup opened
 * asks).
 */
export function hostCpuCount(): number {
  cpuCount ??= Math.max(1, hostCpuList().length);
  return cpuCount;
}

/**
 * The CFS quota and period for a fraction of CPUs, as Docker computes them:
 * period 100000 µs, quota = cpus × period (rounded), e.g. 0.5 → 50000.
 * Raises InvalidArgument when cpus is not within 0.01..hostCpus.
 */
export function cpuQuota(cpus: number, hostCpus = hostCpuCount()): { quotaUs: number; periodUs: number } {
  validateCpus(cpus, hostCpus);
  return { quotaUs: Math.round(cpus * CPU_PERIOD_US), periodUs: CPU_PERIOD_US };
}

function validateCpus(cpus: number, hostCpus: number): void {
  if (!Number.isFinite(cpus) || cpus <= 0) {
    throw invalidArgument(`invalid cpus ${String(cpus)}: it must be a number greater than 0, like 0.5`);
  }
  if (cpus * CPU_PERIOD_US < MIN_CPU_QUOTA_US) {
    throw invalidArgument(`invalid cpus ${String(cpus)}: the smallest limit is 0.01 CPUs`);
  }
  if (cpus > hostCpus) {
    throw invalidArgument(`invalid cpus ${String(cpus)}: this host has only ${hostCpus} CPUs`);
  }
}

/**
 * Checks a limits update before anything is written: memory at least 6 MiB
 * (or `'max'`), cpus within 0.01..hostCpus (or `'max'`), pids a whole number
 * of at least 1 (or `'max'`). Raises InvalidArgument with a sentence naming
 * the field and the accepted range.
 */
export function validateLimits(update: LimitsUpdate, hostCpus = hostCpuCount()): void {
  const { memoryBytes, cpus, pids } = update;
  if (memoryBytes !== undefined && memoryBytes !== 'max') {
    if (!Number.isSafeInteger(memoryBytes) || memoryBytes < MIN_MEMORY_BYTES) {
      throw invalidArgument(`invalid memory limit ${String(memoryBytes)}: the minimum is 6 MiB (6291456 bytes)`);
    }
  }
  if (cpus !== undefined && cpus !== 'max') validateCpus(cpus, hostCpus);
  if (pids !== undefined && pids !== 'max') {
    if (!Number.isSafeInteger(pids) || pids < 1) {
      throw invalidArgument(`invalid pids limit ${String(pids)}: it must be a whole number of at least 1, or unlimited`);
    }
  }
  for (const key of Object.keys(update)) {
    if (!['memoryBytes', 'cpus', 'pids'].includes(key)) {
      throw invalidArgument(`unknown limit ${JSON.stringify(key)}: known limits are memoryBytes, cpus, pids`);
    }
  }
}
