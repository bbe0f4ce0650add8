import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import {
  cpusFromQuota,
  formatCpuMax,
  formatMaxValue,
  memoryWorkingSet,
  oomKillCount,
  parseCpuMax,
  parseFreezerState,
  parseKeyedFile,
  parseMaxValue,
  parseProcs,
  parseV1CpuQuota,
  parseV1MemoryLimit,
} from './cgroup-files.js';

function failure(work: () => unknown): { kind: string; message: string } {
  try {
    work();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return expect.fail('expected an error');
}

// Texts in the formats the kernel writes (Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/memory.rst).
const V2_MEMORY_STAT = `anon 1048576
file 2097152
kernel 0
shmem 0
active_anon 1048576
inactive_anon 0
active_file 1048576
inactive_file 1048576
pgfault 1234
`;
const V2_MEMORY_EVENTS = 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n';
const V2_CPU_STAT = 'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 10\nnr_throttled 4\nthrottled_usec 5000\n';
const V1_OOM_CONTROL = 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n';

describe('cgroup file formats', () => {
  it('reads flat keyed files: memory.stat, memory.events, cpu.stat, memory.oom_control', () => {
    expect(parseKeyedFile(V2_MEMORY_STAT, 'memory.stat').get('inactive_file')).toBe(1048576);
    expect(oomKillCount(parseKeyedFile(V2_MEMORY_EVENTS, 'memory.events'))).toBe(1);
    expect(parseKeyedFile(V2_CPU_STAT, 'cpu.stat').get('usage_usec')).toBe(123456);
    expect(oomKillCount(parseKeyedFile(V1_OOM_CONTROL, 'memory.oom_control'))).toBe(3);
    expect(oomKillCount(parseKeyedFile('oom_kill_disable 0\nunder_oom 0\n', 'memory.oom_control'))).toBeUndefined();
    expect(parseKeyedFile('populated 1\nfrozen 0\n', 'cgroup.events')).toEqual(new Map([['populated', 1], ['frozen', 0]]));
  });

  it.each([
    ['max\n', 'max'],
    ['67108864\n', 67108864],
    ['0\n', 0],
  ])('reads the limit file text %j', (text, limit) => {
    expect(parseMaxValue(text, 'memory.max')).toBe(limit);
  });

  it('formats limits and cpu.max', () => {
    expect(formatMaxValue('max')).toBe('max');
    expect(formatMaxValue(20)).toBe('20');
    expect(formatCpuMax(50000, 100000)).toBe('50000 100000');
    expect(formatCpuMax('max', 100000)).toBe('max 100000');
  });

  it.each([
    ['max 100000\n', { quotaUs: 'max', periodUs: 100000 }],
    ['50000 100000\n', { quotaUs: 50000, periodUs: 100000 }],
  ])('reads cpu.max %j', (text, value) => {
    expect(parseCpuMax(text)).toEqual(value);
  });

  it('reads v1 limits, where no limit is a huge number or -1', () => {
    expect(parseV1MemoryLimit('9223372036854771712\n', 'memory.limit_in_bytes')).toBe('max');
    expect(parseV1MemoryLimit('67108864\n', 'memory.limit_in_bytes')).toBe(67108864);
    expect(parseV1CpuQuota('-1\n')).toBe('max');
    expect(parseV1CpuQuota('50000\n')).toBe(50000);
    expect(cpusFromQuota(50000, 100000)).toBe(0.5);
    expect(cpusFromQuota(150000, 100000)).toBe(1.5);
    expect(cpusFromQuota('max', 100000)).toBe('max');
  });

  it('reads cgroup.procs and freezer.state', () => {
    expect(parseProcs('12\n345\n')).toEqual([12, 345]);
    expect(parseProcs('')).toEqual([]);
    expect(parseFreezerState('FREEZING\n')).toBe('FREEZING');
  });

  it('computes usage without the inactive file cache, like docker stats', () => {
    expect(memoryWorkingSet(4194304, parseKeyedFile(V2_MEMORY_STAT, 'memory.stat'))).toBe(3145728);
    expect(memoryWorkingSet(4194304, new Map([['inactive_file', 1], ['total_inactive_file', 4194304]]))).toBe(0);
    expect(memoryWorkingSet(100, new Map([['inactive_file', 200]]))).toBe(0);
  });

  it.each([
    [() => parseKeyedFile('oom_kill x\n', 'memory.events'), 'unexpected line in memory.events: "oom_kill x"'],
    [() => parseMaxValue('unlimited', 'pids.max'), 'unexpected content in pids.max: "unlimited"'],
    [() => parseCpuMax('50000'), 'unexpected content in cpu.max: "50000"'],
    [() => parseV1MemoryLimit('-5', 'memory.limit_in_bytes'), 'unexpected content in memory.limit_in_bytes: "-5"'],
    [() => parseProcs('12\nabc\n'), 'unexpected content in cgroup.procs: "abc"'],
    [() => parseFreezerState('SLEEPY'), 'unexpected content in freezer.state: "SLEEPY"'],
  ])('raises Internal for text the kernel should not write (%#)', (work, message) => {
    expect(failure(work)).toEqual({ kind: 'Internal', message });
  });
});
