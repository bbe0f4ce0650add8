import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { cpuQuota, cpuSharesOfWeight, cpuWeightOfShares, parseCpuList, parseMemory, validateLimits, type LimitsUpdate } from './limits.js';

function failure(work: () => unknown): { kind: string; message: string } {
  try {
    work();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return expect.fail('expected an error');
}

describe('parseMemory', () => {
  it.each([
    ['6291456', 6291456],
    ['64m', 64 * 1024 ** 2],
    ['64M', 64 * 1024 ** 2],
    ['64mb', 64 * 1024 ** 2],
    ['512k', 512 * 1024],
    ['1.5g', 1.5 * 1024 ** 3],
    ['2t', 2 * 1024 ** 4],
    ['100b', 100],
  ])('reads %s', (text, bytes) => {
    expect(parseMemory(text)).toBe(bytes);
  });

  it.each([
    ['', 'invalid memory size "": expected a number with an optional unit b, k, m, g or t, like 64m'],
    ['64x', 'invalid memory size "64x": expected a number with an optional unit b, k, m, g or t, like 64m'],
    ['-1m', 'invalid memory size "-1m": expected a number with an optional unit b, k, m, g or t, like 64m'],
    ['1.5b', 'invalid memory size "1.5b": it must be a whole number of bytes below 2^53'],
    ['99999999t', 'invalid memory size "99999999t": it must be a whole number of bytes below 2^53'],
  ])('refuses %j', (text, message) => {
    expect(failure(() => parseMemory(text))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('cpuQuota', () => {
  it.each([
    [0.5, 50000],
    [1, 100000],
    [1.5, 150000],
    [0.01, 1000],
    [0.333, 33300],
  ])('%s CPUs → quota %s µs per 100 ms', (cpus, quotaUs) => {
    expect(cpuQuota(cpus, 2)).toEqual({ quotaUs, periodUs: 100000 });
  });

  it.each([
    [0, 'invalid cpus 0: it must be a number greater than 0, like 0.5'],
    [-1, 'invalid cpus -1: it must be a number greater than 0, like 0.5'],
    [Number.NaN, 'invalid cpus NaN: it must be a number greater than 0, like 0.5'],
    [0.005, 'invalid cpus 0.005: the smallest limit is 0.01 CPUs'],
    [2.5, 'invalid cpus 2.5: this host has only 2 CPUs'],
  ])('refuses %s', (cpus, message) => {
    expect(failure(() => cpuQuota(cpus, 2))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('validateLimits', () => {
  it.each<LimitsUpdate>([
    {},
    { memoryBytes: 6 * 1024 * 1024 },
    { memoryBytes: 'max', cpus: 'max', pids: 'max' },
    { cpus: 2, pids: 1 },
    { cpuShares: 2, cpusetCpus: '0-1', cpusetMems: '0' },
    { cpuShares: 262144, cpusetCpus: '1,0' },
  ])('accepts %j', (update) => {
    expect(() => validateLimits(update, 2)).not.toThrow();
  });

  it.each<[LimitsUpdate, string]>([
    [{ memoryBytes: 1024 }, 'invalid memory limit 1024: the minimum is 6 MiB (6291456 bytes)'],
    [{ memoryBytes: -1 }, 'invalid memory limit -1: the minimum is 6 MiB (6291456 bytes)'],
    [{ cpus: 3 }, 'invalid cpus 3: this host has only 2 CPUs'],
    [{ pids: 0 }, 'invalid pids limit 0: it must be a whole number of at least 1, or unlimited'],
    [{ pids: 1.5 }, 'invalid pids limit 1.5: it must be a whole number of at least 1, or unlimited'],
    [{ pids: -1 }, 'invalid pids limit -1: it must be a whole number of at least 1, or unlimited'],
    [{ cpuShares: 1 }, 'invalid cpu shares 1: use a whole number from 2 to 262144 (1024 is the default weight)'],
    [{ cpuShares: 262145 }, 'invalid cpu shares 262145: use a whole number from 2 to 262144 (1024 is the default weight)'],
    [{ cpusetCpus: '0-3' }, 'Requested CPUs are not available - requested 0-3, available: 0-1'],
    [{ cpusetCpus: '1-0' }, 'invalid value "1-0" for --cpuset-cpus: 1-0 is not a range of numbers up to 4095'],
    [{ cpusetCpus: 'all' }, 'invalid value "all" for --cpuset-cpus: use a list such as 0-3,6'],
    [{ cpusetMems: '0,' }, 'invalid value "0," for --cpuset-mems: use a list such as 0-3,6'],
    [{ memory: 1 } as LimitsUpdate, 'unknown limit "memory": known limits are memoryBytes, cpus, pids, cpuShares, cpusetCpus, cpusetMems'],
  ])('refuses %j', (update, message) => {
    expect(failure(() => validateLimits(update, 2))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('cpu shares and weight', () => {
  it("maps cpu.shares onto v2's cpu.weight as runc does, and back to within its rounding", () => {
    expect([2, 512, 1024, 262144].map(cpuWeightOfShares)).toEqual([1, 20, 39, 10000]);
    expect(cpuSharesOfWeight(39)).toBe(998);
    expect(cpuSharesOfWeight(10000)).toBe(262144);
    expect(cpuSharesOfWeight(100)).toBeUndefined();
  });

  it('reads cpuset lists', () => {
    expect(parseCpuList('3,0-1,1', '--cpuset-cpus')).toEqual([0, 1, 3]);
  });
});
