import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorKind, silentLogger } from '@strata/kit';
import { tempDir, waitFor, type TestProcess } from '@strata/kit/testing';
import { openCgroup, type Cgroup } from '../cgroup.js';
import type { CgroupVersion } from '../detect.js';
import type { LimitsUpdate } from '../limits.js';
import { startInCgroup, testCgroupParent, type TestCgroupParent } from './test-cgroups.js';

/** Which parts of a driver a host can run for real. */
export interface CgroupSuiteSetup {
  version: CgroupVersion;
  /** The root passed to openCgroup (default /sys/fs/cgroup). */
  root?: string;
  memory: boolean;
  cpu: boolean;
  /** The cpuset controller (v2: offered to the test's tree). */
  cpuset?: boolean;
  pids: boolean;
  freezer: boolean;
}

/** The memory, cpus and pids limits of what limits() read (the cpu weight and cpusets are checked apart). */
const core = ({ memoryBytes, cpus, pids }: Awaited<ReturnType<Cgroup['limits']>>) => ({ memoryBytes, cpus, pids });

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function failure(work: () => Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await work();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  return expect.fail('expected an error');
}

/**
 * The contract every cgroup driver meets, run against real cgroups: create,
 * join, limits, stats, OOM counting, pids limit against a fork bomb, freeze,
 * kill all, remove. Parts the host cannot run (a controller it lacks) are
 * skipped by setup's flags, so a report shows what ran for real.
 */
export function cgroupSuite(name: string, setup: CgroupSuiteSetup): void {
  describe(`cgroup contract: ${name}`, () => {
    let parent: TestCgroupParent;
    const processes: TestProcess[] = [];
    const cleanups: Array<() => void> = [];

    beforeEach(() => {
      parent = testCgroupParent(setup.root);
    });
    afterEach(async () => {
      for (const p of processes.splice(0)) await p.stop('SIGKILL');
      await parent.remove();
      for (const c of cleanups.splice(0).reverse()) c();
    });

    const open = (leaf = 'c1') =>
      openCgroup(`${parent.path}/${leaf}`, {
        logger: silentLogger(),
        parent: parent.path,
        version: setup.version,
        hostCpus: 2,
        ...(setup.root === undefined ? {} : { root: setup.root }),
      });
    const created = async (leaf?: string) => {
      const cg = await open(leaf);
      await cg.create();
      return cg;
    };
    const run = async (cg: Cgroup, script: string) => {
      const p = await startInCgroup(cg, script);
      processes.push(p);
      return p;
    };

    it('creates, joins a process, lists it, refuses to remove while busy, kills and removes', async () => {
      const cg = await open();
      expect(cg.version).toBe(setup.version);
      expect(await cg.exists()).toBe(false);
      await cg.create();
      await cg.create();
      expect(await cg.exists()).toBe(true);
      const p = await run(cg, 'exec sleep 60');
      expect(await cg.pids()).toEqual([p.pid]);
      expect(await failure(() => cg.remove({ timeoutMs: 100 }))).toEqual({
        kind: 'FailedPrecondition',
        message: expect.stringMatching(new RegExp(`^cgroup ${cg.path} still has processes.*: kill them first$`)),
      });
      await cg.killAll();
      expect(await p.exited).toBe('SIGKILL');
      expect(await cg.pids()).toEqual([]);
      await cg.remove();
      expect(await cg.exists()).toBe(false);
      await cg.remove();
      await cg.killAll();
    });

    it('removes a cgroup with child cgroups, and refuses at once (no wait) while a child holds a process', async () => {
      const cg = await created('c1');
      const child = await created('c1/inner');
      const p = await run(child, 'exec sleep 60');
      expect(await failure(() => cg.remove({ timeoutMs: 0 }))).toEqual({ kind: 'FailedPrecondition', message: expect.stringMatching(/still has processes/) });
      expect(await child.exists()).toBe(true);
      await child.killAll();
      expect(await p.exited).toBe('SIGKILL');
      await cg.remove({ timeoutMs: 0 });
      expect(await child.exists()).toBe(false);
      expect(await cg.exists()).toBe(false);
    });

    it('kills a whole process tree, children and grandchildren', async () => {
      const cg = await created();
      const p = await run(cg, 'sleep 60 & sleep 60 & (sleep 60 & sleep 60) & exec sleep 60');
      await waitFor(async () => (await cg.pids()).length >= 5, () => 'five processes in the cgroup');
      await cg.killAll();
      expect(await cg.pids()).toEqual([]);
      expect(await p.exited).toBe('SIGKILL');
    });

    it('reports CPU time that grows while a process is busy', async () => {
      const cg = await created();
      const before = (await cg.stats()).cpuUsageNs;
      await run(cg, 'while :; do :; done');
      await waitFor(async () => (await cg.stats()).cpuUsageNs - before > 100_000_000, () => '100 ms of CPU time');
    });

    it('raises NotFound for a cgroup that does not exist, and for a process that does not', async () => {
      const cg = await open();
      const missing = { kind: 'NotFound', message: `cgroup ${cg.path} does not exist` };
      expect(await failure(() => cg.stats())).toEqual(missing);
      expect(await failure(() => cg.pids())).toEqual(missing);
      expect(await failure(() => cg.oomKills())).toEqual(missing);
      expect(await failure(() => cg.limits())).toEqual(missing);
      expect(await failure(() => cg.setLimits({ pids: 10 }))).toEqual(missing);
      expect(await failure(() => cg.addProcess(1))).toEqual(missing);
      await cg.create();
      const gone = spawnSync('true');
      expect(await failure(() => cg.addProcess(gone.pid ?? 0))).toEqual({ kind: 'NotFound', message: `process ${gone.pid} does not exist` });
    });

    it.each<[string, LimitsUpdate, string]>([
      ['memory below 6 MiB', { memoryBytes: 6 * MiB - 1 }, 'invalid memory limit 6291455: the minimum is 6 MiB (6291456 bytes)'],
      ['fractional memory', { memoryBytes: 7.5 * MiB + 0.5 }, 'invalid memory limit 7864320.5: the minimum is 6 MiB (6291456 bytes)'],
      ['zero cpus', { cpus: 0 }, 'invalid cpus 0: it must be a number greater than 0, like 0.5'],
      ['too few cpus', { cpus: 0.001 }, 'invalid cpus 0.001: the smallest limit is 0.01 CPUs'],
      ['more cpus than the host', { cpus: 1000 }, 'invalid cpus 1000: this host has only 2 CPUs'],
      ['zero pids', { pids: 0 }, 'invalid pids limit 0: it must be a whole number of at least 1, or unlimited'],
      ['unknown limit', { swap: 1 } as LimitsUpdate, 'unknown limit "swap": known limits are memoryBytes, cpus, pids, cpuShares, cpusetCpus, cpusetMems'],
    ])('refuses %s before writing anything', async (_, update, message) => {
      const cg = await open();
      await cg.create();
      const before = await cg.limits();
      expect(await failure(() => cg.setLimits({ pids: 5, ...update }))).toEqual({ kind: 'InvalidArgument', message });
      expect(await cg.limits()).toEqual(before);
    });

    it.runIf(setup.memory && setup.cpu && setup.pids)('sets limits, reads them back, and updates them on a live cgroup', async () => {
      const cg = await created();
      await cg.setLimits({ memoryBytes: 64 * MiB, cpus: 0.5, pids: 20 });
      expect(core(await cg.limits())).toEqual({ memoryBytes: 64 * MiB, cpus: 0.5, pids: 20 });
      await run(cg, 'exec sleep 60');
      await cg.setLimits({ memoryBytes: 128 * MiB });
      expect(core(await cg.limits())).toEqual({ memoryBytes: 128 * MiB, cpus: 0.5, pids: 20 });
      await cg.setLimits({ memoryBytes: 32 * MiB, cpus: 1.5, pids: 'max' });
      expect(core(await cg.limits())).toEqual({ memoryBytes: 32 * MiB, cpus: 1.5, pids: 'max' });
      await cg.setLimits({ memoryBytes: 'max', cpus: 'max' });
      expect(core(await cg.limits())).toEqual({ memoryBytes: 'max', cpus: 'max', pids: 'max' });
      const stats = await cg.stats();
      expect(stats.memory?.limitBytes).toBe('max');
      expect(stats.pids).toEqual({ current: 1, limit: 'max' });
    });

    it.runIf(setup.cpu)('sets the cpu weight (--cpu-shares) and reads it back', async () => {
      const cg = await created();
      await cg.setLimits({ cpuShares: 512 });
      await run(cg, 'exec sleep 60');
      // v2 keeps it as cpu.weight 20 (runc's mapping), which reads back as 500.
      expect((await cg.limits()).cpuShares).toBe(setup.version === 1 ? 512 : 500);
      await cg.setLimits({ cpuShares: 2048 });
      expect((await cg.limits()).cpuShares).toBe(setup.version === 1 ? 2048 : 2049);
    });

    it.runIf(setup.cpuset === true)('pins the tasks to a cpuset (--cpuset-cpus, --cpuset-mems), also while they run', async () => {
      const cg = await created();
      await cg.setLimits({ cpusetCpus: '0', cpusetMems: '0' });
      const p = await run(cg, 'exec sleep 60');
      const allowed = () => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1];
      expect(allowed()).toBe('0');
      expect(await cg.limits()).toMatchObject({ cpusetCpus: '0', cpusetMems: '0' });
      await cg.setLimits({ cpusetCpus: '0-1' });
      expect(allowed()).toBe('0-1');
      expect(await failure(() => cg.setLimits({ cpusetMems: '7' }))).toMatchObject({ kind: 'InvalidArgument' });
    });

    it.runIf(setup.memory)('reports the memory a process holds, without the file cache', async () => {
      const cg = await created();
      await cg.setLimits({ memoryBytes: 256 * MiB });
      const idle = (await cg.stats()).memory?.usageBytes ?? 0;
      await run(cg, 'x=$(head -c 30000000 /dev/zero | tr "\\0" a); sleep 60; echo ${#x}');
      await waitFor(async () => ((await cg.stats()).memory?.usageBytes ?? 0) - idle > 30_000_000, () => 'memory usage above 30 MB');
      expect((await cg.stats()).memory?.limitBytes).toBe(256 * MiB);
    });

    // Up to the kill, the kernel reclaims (and may swap) the cgroup's pages: seconds on a busy 2-core machine.
    it.runIf(setup.memory)('counts an OOM kill once when a process goes past the memory limit', { timeout: 30_000 }, async () => {
      const cg = await created();
      await cg.setLimits({ memoryBytes: 16 * MiB });
      expect(await cg.oomKills()).toBe(0);
      const p = await run(cg, 'head -c 200000000 /dev/zero | tail');
      expect(await p.exited).toBe(137);
      await waitFor(async () => (await cg.oomKills()) === 1, () => 'one OOM kill');
      await sleep(100);
      expect(await cg.oomKills()).toBe(1);
    });

    it.runIf(setup.pids)('stops a fork bomb at pids.max while this process keeps answering', async () => {
      const cg = await created();
      await cg.setLimits({ pids: 16 });
      // bash retries a failed fork and keeps looping, so the bomb keeps pushing at the limit.
      const bomb = await run(cg, "exec bash -c 'for j in 1 2 3 4; do (while :; do sleep 60 & done) & done; wait'");
      await waitFor(async () => (await cg.stats()).pids?.current === 16, () => 'the bomb to reach 16 tasks');
      await waitFor(() => /fork.*Resource temporarily unavailable/.test(bomb.output()), () => `fork failures in ${bomb.output()}`);
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        await sleep(20);
        expect(Date.now() - started).toBeLessThan(1000);
        expect(spawnSync('true').status).toBe(0);
        expect((await cg.stats()).pids?.current).toBeLessThanOrEqual(16);
      }
      await cg.killAll();
      expect(await cg.pids()).toEqual([]);
    });

    it.runIf(setup.freezer)('freezes a counting process so it does not advance, and thaws it', async () => {
      const cg = await created();
      const dir = tempDir('strata-cgroup-counter-');
      cleanups.push(dir.remove);
      const counter = `${dir.path}/n`;
      await run(cg, `i=0; while :; do i=$((i+1)); echo $i > ${counter}.tmp; mv ${counter}.tmp ${counter}; done`);
      const read = () => Number(readFileSync(counter, 'utf8'));
      await waitFor(() => read() > 10, () => 'the counter to start');
      await cg.freeze();
      expect(await cg.isFrozen()).toBe(true);
      const frozenAt = read();
      await sleep(300);
      expect(read()).toBe(frozenAt);
      await cg.thaw();
      expect(await cg.isFrozen()).toBe(false);
      await waitFor(() => read() > frozenAt + 10, () => 'the counter to advance after thaw');
    });

    it.runIf(setup.freezer)('kills a frozen cgroup', async () => {
      const cg = await created();
      const p = await run(cg, 'sleep 60 & exec sleep 60');
      await waitFor(async () => (await cg.pids()).length === 2, () => 'two processes');
      await cg.freeze();
      await cg.killAll();
      expect(await cg.pids()).toEqual([]);
      expect(await p.exited).toBe('SIGKILL');
    });
  });
}
