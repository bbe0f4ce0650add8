import { internal } from '@strata/kit';
import type { Limit } from './limits.js';

/**
 * Parsers and formatters of the cgroup files Strata reads and writes, v1 and
 * v2. Each parser raises Internal naming the file when the kernel's text does
 * not have the expected shape (a kernel Strata does not know), never returns
 * a guess.
 */

const V1_UNLIMITED = 1n << 62n;

function integer(text: string, file: string): number {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw internal(`unexpected content in ${file}: ${JSON.stringify(text.slice(0, 80))}`);
  return Number(t);
}

/**
 * Parses a flat keyed file (`key value` per line): memory.stat, memory.events,
 * cpu.stat, memory.oom_control, pids.events. Values are numbers (counters
 * above 2^53 lose precision).
 */
export function parseKeyedFile(text: string, file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^(\S+)\s+(-?\d+)$/.exec(line.trim());
    if (m === null) throw internal(`unexpected line in ${file}: ${JSON.stringify(line.slice(0, 80))}`);
    out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}

/** Parses a v2 limit file holding a number or `max` (memory.max, memory.swap.max, pids.max; also v1 pids.max). */
export function parseMaxValue(text: string, file: string): Limit {
  return text.trim() === 'max' ? 'max' : integer(text, file);
}

/** The text written to a v2 limit file (or v1 pids.max) for a limit. */
export function formatMaxValue(limit: Limit): string {
  return limit === 'max' ? 'max' : String(Math.trunc(limit));
}

/** Parses v2 cpu.max: `$QUOTA $PERIOD` where QUOTA is a number of µs or `max`. */
export function parseCpuMax(text: string): { quotaUs: Limit; periodUs: number } {
  const m = /^(max|\d+) (\d+)$/.exec(text.trim());
  if (m === null) throw internal(`unexpected content in cpu.max: ${JSON.stringify(text.slice(0, 80))}`);
  return { quotaUs: m[1] === 'max' ? 'max' : Number(m[1]), periodUs: Number(m[2]) };
}

/** The text written to v2 cpu.max. */
export function formatCpuMax(quotaUs: Limit, periodUs: number): string {
  return `${quotaUs === 'max' ? 'max' : String(Math.trunc(quotaUs))} ${String(Math.trunc(periodUs))}`;
}

/**
 * Parses a v1 memory limit (memory.limit_in_bytes, memory.memsw.limit_in_bytes):
 * the kernel shows "no limit" as a page-rounded 2^63-1, which becomes `'max'`.
 */
export function parseV1MemoryLimit(text: string, file: string): Limit {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw internal(`unexpected content in ${file}: ${JSON.stringify(text.slice(0, 80))}`);
  const value = BigInt(t);
  return value >= V1_UNLIMITED ? 'max' : Number(value);
}

/** Parses v1 cpu.cfs_quota_us: -1 means no quota. */
export function parseV1CpuQuota(text: string): Limit {
  const n = integer(text, 'cpu.cfs_quota_us');
  return n < 0 ? 'max' : n;
}

/** CPUs from a CFS quota and period (`'max'` when there is no quota), rounded to 1/1000. */
export function cpusFromQuota(quotaUs: Limit, periodUs: number): Limit {
  if (quotaUs === 'max' || periodUs <= 0) return 'max';
  return Math.round((quotaUs / periodUs) * 1000) / 1000;
}

/** Parses cgroup.procs: one pid per line. */
export function parseProcs(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => integer(l, 'cgroup.procs'));
}

/** Parses v1 freezer.state: THAWED, FREEZING or FROZEN. */
export function parseFreezerState(text: string): 'THAWED' | 'FREEZING' | 'FROZEN' {
  const t = text.trim();
  if (t === 'THAWED' || t === 'FREEZING' || t === 'FROZEN') return t;
  throw internal(`unexpected content in freezer.state: ${JSON.stringify(text.slice(0, 80))}`);
}

/**
 * Memory in use as `docker stats` shows it: usage minus the inactive file
 * cache (v1 `total_inactive_file`, v2 `inactive_file`), never below 0.
 */
export function memoryWorkingSet(usageBytes: number, stat: Map<string, number>): number {
  const inactive = stat.get('total_inactive_file') ?? stat.get('inactive_file') ?? 0;
  return Math.max(0, usageBytes - inactive);
}

/** The oom_kill counter of v1 memory.oom_control or v2 memory.events; undefined when the kernel does not report it. */
export function oomKillCount(keyed: Map<string, number>): number | undefined {
  return keyed.get('oom_kill');
}
