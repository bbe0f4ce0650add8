import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorKind, silentLogger } from '@strata/kit';
import { waitFor, type TestProcess } from '@strata/kit/testing';
import { openCgroup } from './cgroup.js';
import { detectCgroupVersion } from './detect.js';
import { cgroupSuite, mountCgroup2, startInCgroup, testCgroupParent, type TestCgroupParent } from './testing/index.js';

// A private cgroup2 mount: on this v1 (hybrid) host it is the unified tree, with
// only the controllers no v1 hierarchy holds; on a v2 host, all of them.
const mount = mountCgroup2();
afterAll(() => mount?.unmount());

function probe(root: string) {
  const offered = readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  const dir = join(root, `strata-probe-${process.pid}`);
  mkdirSync(dir);
  try {
    return { offered, freezer: existsSync(join(dir, 'cgroup.freeze')), kill: existsSync(join(dir, 'cgroup.kill')) };
  } finally {
    rmdirSync(dir);
  }
}
const host = mount === undefined ? undefined : probe(mount.root);

describe.runIf(mount !== undefined && host !== undefined)('cgroup v2 driver on a cgroup2 mount', () => {
  const root = mount?.root ?? '';
  const offered = host?.offered ?? [];
  cgroupSuite('v2', {
    version: 2,
    root,
    memory: offered.includes('memory'),
    cpu: offered.includes('cpu'),
    cpuset: offered.includes('cpuset'),
    pids: offered.includes('pids'),
    freezer: host?.freezer ?? false,
  });

  describe('files', () => {
    let parent: TestCgroupParent;
    const processes: TestProcess[] = [];
    beforeEach(() => {
      parent = testCgroupParent(root);
    });
    afterEach(async () => {
      for (const p of processes.splice(0)) await p.stop('SIGKILL');
      await parent.remove();
    });
    const open = () => openCgroup(`${parent.path}/c1`, { logger: silentLogger(), parent: parent.path, root });
    const read = (file: string) => readFileSync(join(root, parent.path, 'c1', file), 'utf8');

    it('is detected as v2 and chosen without being forced', async () => {
      expect(await detectCgroupVersion(root)).toBe(2);
      expect((await open()).version).toBe(2);
    });

    it('creates one directory in the unified tree and removes it', async () => {
      const cg = await open();
      await cg.create();
      expect(existsSync(join(root, parent.path, 'c1', 'cgroup.procs'))).toBe(true);
      const p = await startInCgroup(cg, 'exec sleep 60');
      processes.push(p);
      expect(read('cgroup.procs').trim()).toBe(String(p.pid));
      expect(readFileSync(`/proc/${p.pid}/cgroup`, 'utf8')).toContain(`0::${parent.path}/c1\n`);
      await cg.killAll();
      await cg.remove();
      expect(existsSync(join(root, parent.path, 'c1'))).toBe(false);
    });

    it.runIf(host?.freezer)('freezes through cgroup.freeze and waits for cgroup.events frozen 1', async () => {
      const cg = await open();
      await cg.create();
      processes.push(await startInCgroup(cg, 'exec sleep 60'));
      await cg.freeze();
      expect(read('cgroup.freeze').trim()).toBe('1');
      expect(read('cgroup.events')).toContain('frozen 1');
      await cg.thaw();
      expect(read('cgroup.freeze').trim()).toBe('0');
      expect(read('cgroup.events')).toContain('frozen 0');
    });

    it.runIf(host?.kill)('kills through cgroup.kill', async () => {
      const cg = await open();
      await cg.create();
      const p = await startInCgroup(cg, 'sleep 60 & exec sleep 60');
      processes.push(p);
      await waitFor(async () => (await cg.pids()).length === 2, () => 'two processes');
      await cg.killAll();
      expect(await p.exited).toBe('SIGKILL');
      expect(read('cgroup.events')).toContain('populated 0');
    });

    it.runIf(!offered.includes('memory'))('says which controller is missing when the host does not offer it', async () => {
      const cg = await open();
      await cg.create();
      let caught: unknown;
      try {
        await cg.setLimits({ memoryBytes: 64 * 1024 * 1024 });
      } catch (err) {
        caught = err;
      }
      expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({
        kind: 'FailedPrecondition',
        message: `the memory controller is not enabled for cgroup ${cg.path} (cgroup v2): the host must offer it and the parent must enable it in cgroup.subtree_control`,
      });
      expect(await cg.limits()).toMatchObject({ memoryBytes: 'max', cpus: 'max', pids: 'max' });
      expect(await cg.oomKills()).toBe(0);
      const stats = await cg.stats();
      expect(stats.memory).toBeUndefined();
      expect(typeof stats.cpuUsageNs).toBe('number');
    });

    it.runIf(offered.includes('memory') && offered.includes('cpu') && offered.includes('pids'))(
      'writes memory.max with memory.swap.max 0, cpu.max and pids.max',
      async () => {
        const cg = await open();
        await cg.create();
        await cg.setLimits({ memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 20 });
        expect(read('memory.max').trim()).toBe(String(64 * 1024 * 1024));
        if (existsSync(join(root, parent.path, 'c1', 'memory.swap.max'))) expect(read('memory.swap.max').trim()).toBe('0');
        expect(read('cpu.max').trim()).toBe('50000 100000');
        expect(read('pids.max').trim()).toBe('20');
        await cg.setLimits({ memoryBytes: 'max', cpus: 'max', pids: 'max' });
        expect(read('memory.max').trim()).toBe('max');
        expect(read('cpu.max').trim()).toBe('max 100000');
        expect(read('pids.max').trim()).toBe('max');
      },
    );
  });
});
