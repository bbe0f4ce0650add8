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
  /**
   * Relative CPU weight against other cgroups when the CPUs are busy
   * (`--cpu-shares`, 2..262144, 1024 being the kernel's default): v1
   * cpu.shares; v2 cpu.weight, converted as runc does (see
   * {@link cpuWeightOfShares}). Read back: undefined without the cpu
   * controller, and on v2 when the weight is the kernel's default.
   */
  cpuShares?: number;
  /** The CPUs the tasks may run on, a list such as `0-2,4` (`--cpuset-cpus`). Read back: the cpuset in force. */
  cpusetCpus?: string;
  /** The memory nodes the tasks may allocate from, likewise (`--cpuset-mems`). */
  cpusetMems?: string;
}

/** The range of `--cpu-shares`, as the kernel takes it in cpu.shares. */
export const MIN_CPU_SHARES = 2;
export const MAX_CPU_SHARES = 262144;
/** cgroup v2's default cpu.weight. */
const DEFAULT_CPU_WEIGHT = 100;

/** The v2 cpu.weight of a v1 cpu.shares value, as runc maps them: 2..262144 onto 1..10000. */
export function cpuWeightOfShares(shares: number): number {
  return 1 + Math.floor(((shares - MIN_CPU_SHARES) * 9999) / (MAX_CPU_SHARES - MIN_CPU_SHARES));
}

/** The cpu.shares a v2 cpu.weight stands for (the inverse of cpuWeightOfShares, to within its rounding); undefined for the default weight. */
export function cpuSharesOfWeight(weight: number): number | undefined {
  if (weight === DEFAULT_CPU_WEIGHT) return undefined;
  return MIN_CPU_SHARES + Math.round(((weight - 1) * (MAX_CPU_SHARES - MIN_CPU_SHARES)) / 9999);
}

/**
 * The numbers of a cpuset list (`0-3,6`, the kernel's syntax), ascending
 * and without repeats. InvalidArgument naming flag for anything else,
 * including a range that runs backwards or a number above 4095.
 */
export function parseCpuList(text: string, flag: string): number[] {
  const out = new Set<number>();
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw invalidArgument(`invalid value "${text}" for ${flag}: use a list such as 0-3,6`);
  for (const part of text.split(',')) {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    if (to < from || to > 4095) throw invalidArgument(`invalid value "${text}" for ${flag}: ${part} is not a range of numbers up to 4095`);
    for (let n = from; n <= to; n++) out.add(n);
  }
  return [...out].sort((a, b) => a - b);
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
 * of at least 1 (or `'max'`), cpu shares within 2..262144, cpusets lists
 * whose CPUs this host has (memory nodes are checked by the kernel).
 * Raises InvalidArgument with a sentence naming the field and the
 * accepted range.
 */
export function validateLimits(update: LimitsUpdate, hostCpus = hostCpuCount()): void {
  const { memoryBytes, cpus, pids, cpuShares, cpusetCpus, cpusetMems } = update;
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
  if (cpuShares !== undefined && (!Number.isSafeInteger(cpuShares) || cpuShares < MIN_CPU_SHARES || cpuShares > MAX_CPU_SHARES)) {
    throw invalidArgument(`invalid cpu shares ${String(cpuShares)}: use a whole number from ${MIN_CPU_SHARES} to ${MAX_CPU_SHARES} (1024 is the default weight)`);
  }
  if (cpusetCpus !== undefined) {
    const missing = parseCpuList(cpusetCpus, '--cpuset-cpus').filter((n) => n >= hostCpus);
    if (missing.length > 0) throw invalidArgument(`Requested CPUs are not available - requested ${cpusetCpus}, available: ${hostCpus === 1 ? '0' : `0-${hostCpus - 1}`}`);
  }
  if (cpusetMems !== undefined) parseCpuList(cpusetMems, '--cpuset-mems');
  const known = ['memoryBytes', 'cpus', 'pids', 'cpuShares', 'cpusetCpus', 'cpusetMems'];
  for (const key of Object.keys(update)) {
    if (!known.includes(key)) throw invalidArgument(`unknown limit ${JSON.stringify(key)}: known limits are ${known.join(', ')}`);
  }
}
