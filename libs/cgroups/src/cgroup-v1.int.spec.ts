import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorKind, silentLogger } from '@strata/kit';
import { waitFor, type TestProcess } from '@strata/kit/testing';
import { openCgroup } from './cgroup.js';
import { detectCgroupVersion, findV1Hierarchies } from './detect.js';
import { cgroupMounts, cgroupSuite, startInCgroup, testCgroupParent, type TestCgroupParent } from './testing/index.js';

const version = await detectCgroupVersion();
const hierarchies = version === 1 ? await findV1Hierarchies() : [];
const has = (controller: string) => hierarchies.some((h) => h.controllers.includes(controller));
const MiB = 1024 * 1024;

describe.runIf(version === 1)('cgroup v1 driver on this host', () => {
  cgroupSuite('v1', {
    version: 1,
    memory: has('memory'),
    cpu: has('cpu') && has('cpuacct'),
    cpuset: has('cpuset'),
    pids: has('pids'),
    freezer: has('freezer'),
  });

  describe('files', () => {
    let parent: TestCgroupParent;
    const processes: TestProcess[] = [];
    beforeEach(() => {
      parent = testCgroupParent();
    });
    afterEach(async () => {
      for (const p of processes.splice(0)) await p.stop('SIGKILL');
      await parent.remove();
    });
    const open = () => openCgroup(`${parent.path}/c1`, { logger: silentLogger(), parent: parent.path });
    const dirOf = (controller: string) => join(hierarchies.find((h) => h.controllers.includes(controller))!.mountpoint, parent.path, 'c1');
    const read = (controller: string, file: string) => readFileSync(join(dirOf(controller), file), 'utf8').trim();

    it.runIf(has('cpuset'))('fills cpuset of cgroups created at once under a new middle directory, so each takes a process', async () => {
      const names = ['monitors/a', 'monitors/b', 'monitors/c', 'd'];
      const cgroups = await Promise.all(names.map((name) => openCgroup(`${parent.path}/${name}`, { logger: silentLogger(), parent: parent.path })));
      await Promise.all(cgroups.map((cg) => cg.create()));
      try {
        for (const cg of cgroups) processes.push(await startInCgroup(cg, 'exec sleep 60'));
        const cpuset = (name: string) => readFileSync(join(hierarchies.find((h) => h.controllers.includes('cpuset'))!.mountpoint, parent.path, name, 'cpuset.cpus'), 'utf8').trim();
        for (const name of names) expect(cpuset(name)).toBe(readFileSync('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8').trim());
      } finally {
        for (const p of processes.splice(0)) await p.stop('SIGKILL');
        for (const cg of cgroups) await cg.remove();
        await openCgroup(`${parent.path}/monitors`, { logger: silentLogger(), parent: parent.path }).then((cg) => cg.remove());
      }
    });

    it('is chosen by detection on this hybrid host', async () => {
      expect((await open()).version).toBe(1);
    });

    it('creates the cgroup in every hierarchy (cpuset filled from the parent) and removes it from all', async () => {
      const cg = await open();
      await cg.create();
      const mounts = await cgroupMounts();
      expect(mounts.length).toBeGreaterThan(1);
      for (const mount of mounts) expect(existsSync(join(mount, parent.path, 'c1'))).toBe(true);
      if (has('cpuset')) expect(read('cpuset', 'cpuset.cpus')).toBe(readFileSync('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8').trim());
      const p = await startInCgroup(cg, 'exec sleep 60');
      processes.push(p);
      for (const mount of mounts) {
        expect(readFileSync(join(mount, parent.path, 'c1', 'cgroup.procs'), 'utf8').trim()).toBe(String(p.pid));
      }
      await cg.killAll();
      await cg.remove();
      for (const mount of mounts) {
        expect(existsSync(join(mount, parent.path, 'c1'))).toBe(false);
        expect(existsSync(join(mount, parent.path))).toBe(true);
      }
    });

    it.runIf(has('memory') && has('cpu') && has('pids'))('writes memory = memory+swap, CFS quota/period and pids.max', async () => {
      const cg = await open();
      await cg.create();
      await cg.setLimits({ memoryBytes: 64 * MiB, cpus: 0.5, pids: 20 });
      expect(read('memory', 'memory.limit_in_bytes')).toBe(String(64 * MiB));
      if (existsSync(join(dirOf('memory'), 'memory.memsw.limit_in_bytes'))) {
        expect(read('memory', 'memory.memsw.limit_in_bytes')).toBe(String(64 * MiB));
      }
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('50000');
      expect(read('cpu', 'cpu.cfs_period_us')).toBe('100000');
      expect(read('pids', 'pids.max')).toBe('20');
      await cg.setLimits({ memoryBytes: 256 * MiB, cpus: 2, pids: 'max' });
      expect(read('memory', 'memory.limit_in_bytes')).toBe(String(256 * MiB));
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('200000');
      expect(read('pids', 'pids.max')).toBe('max');
      await cg.setLimits({ memoryBytes: 'max', cpus: 'max' });
      expect(BigInt(read('memory', 'memory.limit_in_bytes'))).toBeGreaterThan(1n << 62n);
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('-1');
    });

    it.runIf(has('memory'))('refuses to shrink memory below what the processes hold', async () => {
      const cg = await open();
      await cg.create();
      await cg.setLimits({ memoryBytes: 256 * MiB });
      const p = await startInCgroup(cg, 'x=$(head -c 40000000 /dev/zero | tr "\\0" a); sleep 60; echo ${#x}');
      processes.push(p);
      await waitFor(async () => ((await cg.stats()).memory?.usageBytes ?? 0) > 40_000_000, () => 'memory above 40 MB');
      let caught: unknown;
      try {
        await cg.setLimits({ memoryBytes: 8 * MiB });
      } catch (err) {
        caught = err;
      }
      expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({
        kind: 'FailedPrecondition',
        message: `cannot set the memory limit of cgroup ${cg.path} to ${8 * MiB} bytes: its processes use more than that and cannot be reclaimed`,
      });
      expect(read('memory', 'memory.limit_in_bytes')).toBe(String(256 * MiB));
    });
  });
});
