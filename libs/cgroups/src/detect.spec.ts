import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { detectCgroupVersion, parseV1Hierarchies } from './detect.js';

const MOUNTINFO = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
37 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
38 31 0:33 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
39 31 0:34 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,net_cls,net_prio
40 30 0:34 / /mnt/other\\040memory rw,relatime - cgroup cgroup rw,memory
`;

describe('parseV1Hierarchies', () => {
  it('finds the v1 hierarchies under the root with their controllers, ignoring cgroup2 and other mounts', () => {
    expect(parseV1Hierarchies(MOUNTINFO)).toEqual([
      { mountpoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'] },
      { mountpoint: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
      { mountpoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
      { mountpoint: '/sys/fs/cgroup/pids', controllers: ['pids'] },
      { mountpoint: '/sys/fs/cgroup/net_cls,net_prio', controllers: ['net_cls', 'net_prio'] },
    ]);
  });

  it('decodes escaped mount points', () => {
    expect(parseV1Hierarchies(MOUNTINFO, '/mnt')).toEqual([{ mountpoint: '/mnt/other memory', controllers: ['memory'] }]);
  });
});

describe('detectCgroupVersion', () => {
  it('raises FailedPrecondition when nothing is mounted at the root', async () => {
    let caught: unknown;
    try {
      await detectCgroupVersion('/nonexistent/cgroup');
    } catch (err) {
      caught = err;
    }
    expect({ kind: errorKind(caught), message: (caught as Error).message }).toEqual({
      kind: 'FailedPrecondition',
      message: 'no cgroup file system at /nonexistent/cgroup: mount cgroups (v1 or v2) there first',
    });
  });

  it('reads this host: 2 only when /sys/fs/cgroup itself is cgroup2, else 1 (hybrid hosts are v1, like runc)', async () => {
    const fsType = spawnSync('stat', ['-fc', '%T', '/sys/fs/cgroup'], { encoding: 'utf8' }).stdout.trim();
    expect(await detectCgroupVersion()).toBe(fsType === 'cgroup2fs' ? 2 : 1);
  });
});
