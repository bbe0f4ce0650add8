import { existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import {
  buildExecProcess,
  buildRuntimeSpec,
  checkWorkingDir,
  exposedPorts,
  parseStopSignal,
  processArgs,
  processEnv,
  specResources,
  STOP_SIGNAL_ANNOTATION,
  type RuntimeSpecOptions,
} from './build-runtime-spec.js';
import {
  capabilityMask,
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_PIDS_LIMIT,
  DEFAULT_READONLY_PATHS,
} from './hardened-defaults.js';

const ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

async function failure(fn: () => unknown): Promise<{ kind: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

describe('processArgs (Docker override rules)', () => {
  const image = { Entrypoint: ['/entry', '-x'], Cmd: ['serve', '--port=80'] };
  it.each([
    ['image Entrypoint + Cmd', image, undefined, undefined, ['/entry', '-x', 'serve', '--port=80']],
    ['CMD args replace Cmd', image, ['debug'], undefined, ['/entry', '-x', 'debug']],
    ['empty args keep Cmd', image, [], undefined, ['/entry', '-x', 'serve', '--port=80']],
    ['--entrypoint replaces Entrypoint and clears Cmd', image, undefined, ['/bin/sh'], ['/bin/sh']],
    ['--entrypoint with args', image, ['-c', 'id'], ['/bin/sh'], ['/bin/sh', '-c', 'id']],
    ['--entrypoint "" with args runs the args', image, ['ls'], [], ['ls']],
    ['Cmd only', { Cmd: ['sh'] }, undefined, undefined, ['sh']],
    ['Entrypoint only', { Entrypoint: ['/app'] }, undefined, undefined, ['/app']],
    ['no image config, args', undefined, ['true'], undefined, ['true']],
  ])('%s', (_name, img, args, entrypoint, expected) => {
    expect(processArgs(img, args, entrypoint)).toEqual(expected);
  });

  it.each([
    ['nothing at all', undefined, undefined, undefined, 'no command specified: the image has no Entrypoint or Cmd; give a command'],
    ['--entrypoint "" and no args', { Cmd: ['sh'] }, undefined, [], 'no command specified: the image has no Entrypoint or Cmd; give a command'],
    ['empty program', undefined, [''], undefined, 'invalid command: the program name is empty'],
    ['NUL byte', undefined, ['echo', 'a\0b'], undefined, 'invalid command: an argument contains a NUL byte'],
  ])('refuses %s', async (_name, img, args, entrypoint, message) => {
    expect(await failure(() => processArgs(img, args, entrypoint))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('processEnv', () => {
  const base = { hostname: 'h1', home: '/root', tty: false };
  it.each([
    ['defaults when the image has none', undefined, undefined, base, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h1', 'HOME=/root']],
    ['image PATH kept', ['PATH=/bin', 'A=1'], undefined, base, ['PATH=/bin', 'A=1', 'HOSTNAME=h1', 'HOME=/root']],
    ['-e overrides in place and appends', ['A=1', 'B=2'], ['B=3', 'C=4'], base, ['A=1', 'B=3', 'C=4', `PATH=${DEFAULT_PATH}`, 'HOSTNAME=h1', 'HOME=/root']],
    ['-e HOSTNAME and HOME win', undefined, ['HOSTNAME=x', 'HOME=/h'], base, ['HOSTNAME=x', 'HOME=/h', `PATH=${DEFAULT_PATH}`]],
    ['TERM with a tty', ['PATH=/bin'], undefined, { ...base, tty: true }, ['PATH=/bin', 'HOSTNAME=h1', 'HOME=/root', 'TERM=xterm']],
    ['TERM from -e kept', ['PATH=/bin'], ['TERM=vt100'], { ...base, tty: true }, ['PATH=/bin', 'TERM=vt100', 'HOSTNAME=h1', 'HOME=/root']],
    ['empty values allowed', ['PATH=/bin', 'EMPTY='], undefined, base, ['PATH=/bin', 'EMPTY=', 'HOSTNAME=h1', 'HOME=/root']],
  ])('%s', (_name, imageEnv, env, options, expected) => {
    expect(processEnv(imageEnv, env, options)).toEqual(expected);
  });

  it.each([
    ['no =', undefined, ['FOO'], 'invalid environment variable "FOO" in the options: use KEY=value'],
    ['empty key', undefined, ['=x'], 'invalid environment variable "=x" in the options: use KEY=value'],
    ['NUL', undefined, ['A=b\0c'], 'invalid environment variable "A=b\\0c" in the options: use KEY=value'],
    ['bad image entry', ['JUNK'], undefined, 'invalid environment variable "JUNK" in the image\'s Env: use KEY=value'],
  ])('refuses %s', async (_name, imageEnv, env, message) => {
    expect(await failure(() => processEnv(imageEnv, env, base))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('checkWorkingDir', () => {
  it.each([
    ['/', '/'],
    ['/app', '/app'],
    ['/app/../srv/./x/', '/srv/x'],
    ['/../..', '/'],
    ['/procfs', '/procfs'],
  ])('accepts %j as %j', (dir, expected) => {
    expect(checkWorkingDir(dir)).toBe(expected);
  });

  it.each([
    ['app', 'invalid working directory "app": it must be an absolute path'],
    ['', 'invalid working directory "": it must be an absolute path'],
    ['/a\0b', 'invalid working directory: it contains a NUL byte'],
    ['/proc/self/fd/7', 'working directory "/proc/self/fd/7" is refused: it is under /proc, which the runtime mounts over the container\'s files (see CVE-2024-21626); choose a directory of the image'],
    ['/proc', 'working directory "/proc" is refused: it is under /proc, which the runtime mounts over the container\'s files (see CVE-2024-21626); choose a directory of the image'],
    ['/app/../proc/1/cwd', 'working directory "/app/../proc/1/cwd" is refused: it is under /proc, which the runtime mounts over the container\'s files (see CVE-2024-21626); choose a directory of the image'],
    ['/dev/fd/3', 'working directory "/dev/fd/3" is refused: it is under /dev, which the runtime mounts over the container\'s files (see CVE-2024-21626); choose a directory of the image'],
    ['/sys/fs', 'working directory "/sys/fs" is refused: it is under /sys, which the runtime mounts over the container\'s files (see CVE-2024-21626); choose a directory of the image'],
  ])('refuses %j', async (dir, message) => {
    expect(await failure(() => checkWorkingDir(dir))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('specResources', () => {
  it('defaults: device rules and the default pids limit', () => {
    expect(specResources()).toEqual({ devices: [...DEFAULT_DEVICE_RULES], pids: { limit: DEFAULT_PIDS_LIMIT } });
  });

  it.each([
    [{ memoryBytes: 64 << 20 }, { memory: { limit: 64 << 20 } }],
    [{ memoryBytes: 64 << 20, memorySwapBytes: 128 << 20 }, { memory: { limit: 64 << 20, swap: 128 << 20 } }],
    [{ cpus: 0.5 }, { cpu: { quota: 50_000, period: 100_000 } }],
    [{ cpus: 2 }, { cpu: { quota: 200_000, period: 100_000 } }],
    [{ cpus: 0.01 }, { cpu: { quota: 1000, period: 100_000 } }],
    [{ pidsLimit: 100 }, { pids: { limit: 100 } }],
    [{ pidsLimit: -1 }, { pids: { limit: -1 } }],
    [{ cpus: 0.5, cpuShares: 512, cpusetCpus: '0-1', cpusetMems: '0' }, { cpu: { quota: 50_000, period: 100_000, shares: 512, cpus: '0-1', mems: '0' } }],
  ])('%j', (limits, expected) => {
    expect(specResources(limits)).toMatchObject(expected);
  });

  it.each([
    [{ memoryBytes: 1024 }, 'invalid memory limit 1024: the minimum is 6 MiB (6291456 bytes)'],
    [{ memoryBytes: 1.5e7 + 0.5 }, 'invalid memory limit 15000000.5: the minimum is 6 MiB (6291456 bytes)'],
    [{ memorySwapBytes: 1 << 30 }, 'invalid memory+swap limit: it needs a memory limit and must be at least as large'],
    [{ memoryBytes: 64 << 20, memorySwapBytes: 32 << 20 }, 'invalid memory+swap limit: it needs a memory limit and must be at least as large'],
    [{ cpus: 0.001 }, 'invalid cpus 0.001: use a number of at least 0.01'],
    [{ cpus: -1 }, 'invalid cpus -1: use a number of at least 0.01'],
    [{ cpus: Number.NaN }, 'invalid cpus NaN: use a number of at least 0.01'],
    [{ pidsLimit: 0 }, 'invalid pids limit 0: use a positive number, or -1 for no limit'],
    [{ pidsLimit: 2.5 }, 'invalid pids limit 2.5: use a positive number, or -1 for no limit'],
  ])('refuses %j', async (limits, message) => {
    expect(await failure(() => specResources(limits))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('parseStopSignal and exposedPorts', () => {
  it.each([
    [undefined, 'SIGTERM'],
    ['SIGINT', 'SIGINT'],
    ['quit', 'SIGQUIT'],
    ['9', 'SIGKILL'],
    ['SIGRTMIN+3', '37'],
    ['40', '40'],
  ])('stop signal %j is %j', (value, expected) => {
    expect(parseStopSignal(value)).toBe(expected);
  });

  it.each(['SIGNOPE', '0', '65', 'SIGRTMIN+31'])('refuses stop signal %j', async (value) => {
    expect(await failure(() => parseStopSignal(value))).toEqual({
      kind: 'InvalidArgument',
      message: `invalid stop signal "${value}": use a name such as SIGTERM or a number`,
    });
  });

  it('lists exposed ports, tcp by default', () => {
    expect(exposedPorts({ ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '53/tcp': {}, '9000': {} } })).toEqual([
      { port: 53, protocol: 'tcp' },
      { port: 53, protocol: 'udp' },
      { port: 8080, protocol: 'tcp' },
      { port: 9000, protocol: 'tcp' },
    ]);
    expect(exposedPorts(undefined)).toEqual([]);
  });

  it.each(['0/tcp', '70000', '80/icmp', 'http'])('refuses exposed port %j', async (key) => {
    expect(await failure(() => exposedPorts({ ExposedPorts: { [key]: {} } }))).toEqual({
      kind: 'InvalidArgument',
      message: `invalid exposed port "${key}": use PORT or PORT/tcp|udp|sctp`,
    });
  });
});

describe('buildRuntimeSpec', () => {
  let dir: ReturnType<typeof tempDir>;
  let rootfs: string;
  const options = (extra: Partial<RuntimeSpecOptions> = {}): RuntimeSpecOptions => ({
    containerId: ID,
    rootfs,
    image: { Cmd: ['sh'], Env: ['PATH=/bin'] },
    network: 'none',
    cgroupsPath: '/strata/c1',
    ...extra,
  });

  beforeEach(() => {
    dir = tempDir('strata-rs-build-');
    rootfs = join(dir.path, 'rootfs');
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    mkdirSync(join(rootfs, 'proc'));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\nusers:x:100:nobody\n');
  });
  afterEach(() => dir.remove());

  it('builds a hardened spec with defaults', async () => {
    const spec = await buildRuntimeSpec(options({ image: { Cmd: ['sh'], Env: ['PATH=/bin'], StopSignal: 'SIGQUIT' } }));
    expect(spec.ociVersion).toBe('1.0.2-dev');
    expect(spec.root).toEqual({ path: rootfs, readonly: false });
    expect(spec.hostname).toBe(ID.slice(0, 12));
    expect(spec.process).toMatchObject({
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/bin', `HOSTNAME=${ID.slice(0, 12)}`, 'HOME=/root'],
      cwd: '/',
      noNewPrivileges: true,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }],
    });
    expect(spec.process.oomScoreAdj).toBeUndefined();
    const caps = spec.process.capabilities;
    expect(caps.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(caps.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(caps.permitted).toEqual([...DEFAULT_CAPABILITIES]);
    expect(caps.inheritable).toEqual([]);
    expect(caps.ambient).toEqual([]);
    expect(capabilityMask(caps.bounding)).toBe(0xa80425fbn);
    expect(spec.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }]);
    expect(spec.linux.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(spec.linux.readonlyPaths).toEqual([...DEFAULT_READONLY_PATHS]);
    expect(spec.linux.cgroupsPath).toBe('/strata/c1');
    expect(spec.linux.resources.pids).toEqual({ limit: 4096 });
    expect(spec.linux.resources.devices[0]).toEqual({ allow: false, access: 'rwm' });
    expect(spec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(spec.linux.uidMappings).toBeUndefined();
    expect(spec.mounts.map((m) => `${m.destination}:${m.type}`)).toEqual([
      '/proc:proc',
      '/dev:tmpfs',
      '/dev/pts:devpts',
      '/dev/shm:tmpfs',
      '/dev/mqueue:mqueue',
      '/sys:sysfs',
      '/sys/fs/cgroup:cgroup',
    ]);
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
    expect(spec.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options).toContain('ro');
    expect(spec.annotations).toEqual({ [STOP_SIGNAL_ANNOTATION]: 'SIGQUIT' });
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it('applies the run options', async () => {
    const spec = await buildRuntimeSpec(
      options({
        image: { Entrypoint: ['/entry'], Cmd: ['a'], Env: ['A=1'], User: 'root', WorkingDir: '/app' },
        args: ['b'],
        env: ['A=2'],
        user: 'nobody',
        workingDir: '/srv/data',
        tty: true,
        hostname: 'web-1.local',
        network: { path: '/var/run/netns/strata-x' },
        resources: { memoryBytes: 64 << 20, cpus: 1.5, pidsLimit: 50 },
        files: { hosts: '/run/strata/c1/hosts', hostname: '/run/strata/c1/hostname', resolvConf: '/run/strata/c1/resolv.conf' },
        nofileLimit: 4096,
        cgroupNamespace: true,
        seccomp: 'unconfined',
      }),
    );
    expect(spec.process).toMatchObject({
      terminal: true,
      user: { uid: 65534, gid: 65534, additionalGids: [100] },
      args: ['/entry', 'b'],
      env: ['A=2', `PATH=${DEFAULT_PATH}`, 'HOSTNAME=web-1.local', 'HOME=/home', 'TERM=xterm'],
      cwd: '/srv/data',
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 4096 }],
    });
    expect(statSync(join(rootfs, 'srv/data')).isDirectory()).toBe(true);
    expect(spec.hostname).toBe('web-1.local');
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: '/var/run/netns/strata-x' });
    expect(spec.linux.namespaces).toContainEqual({ type: 'cgroup' });
    expect(spec.linux.resources).toMatchObject({ memory: { limit: 64 << 20 }, cpu: { quota: 150_000, period: 100_000 }, pids: { limit: 50 } });
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.mounts.slice(-3)).toEqual([
      { destination: '/etc/hosts', type: 'bind', source: '/run/strata/c1/hosts', options: ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec'] },
      { destination: '/etc/hostname', type: 'bind', source: '/run/strata/c1/hostname', options: ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: '/run/strata/c1/resolv.conf', options: ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec'] },
    ]);
  });

  it('applies --read-only, --ulimit over the defaults and --shm-size', async () => {
    const spec = await buildRuntimeSpec(
      options({
        nofileLimit: 4096,
        ulimits: [
          { name: 'nofile', soft: 1024, hard: 2048 },
          { name: 'core', soft: -1, hard: -1 },
        ],
        readOnlyRoot: true,
        shmSizeBytes: 128 * 1024 * 1024 + 1,
      }),
    );
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 },
      { type: 'RLIMIT_CORE', soft: -1, hard: -1 },
    ]);
    expect(spec.mounts.find((m) => m.destination === '/dev/shm')?.options).toContain('size=131073k');
  });

  it('uses the image WorkingDir and User', async () => {
    const spec = await buildRuntimeSpec(options({ image: { Cmd: ['sh'], WorkingDir: '/app', User: '1000:1000' } }));
    expect(spec.process.cwd).toBe('/app');
    expect(spec.process.user).toEqual({ uid: 1000, gid: 1000 });
    expect(spec.process.env).toContain('HOME=/');
  });

  it('asks a given resolveUser for the user (the image User when -u is unset) instead of reading the root file system', async () => {
    const asked: Array<[string, string]> = [];
    const spec = await buildRuntimeSpec({
      ...options({ image: { Cmd: ['sh'], User: 'app' } }),
      resolveUser: async (root, user) => {
        asked.push([root, user]);
        return { uid: 4000, gid: 4001, additionalGids: [4002], home: '/home/app' };
      },
    });
    expect(asked).toEqual([[options({}).rootfs, 'app']]);
    expect(spec.process.user).toEqual({ uid: 4000, gid: 4001, additionalGids: [4002] });
    expect(spec.process.env).toContain('HOME=/home/app');
  });

  it('shares the host network namespace with network "host"', async () => {
    const spec = await buildRuntimeSpec(options({ network: 'host' }));
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount']);
  });

  it('adds a user namespace and creates the working directory owned by the mapped root', async () => {
    const maps = { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }] };
    const spec = await buildRuntimeSpec(options({ userNamespace: maps, workingDir: '/work', network: 'host' }));
    expect(spec.linux.namespaces).toContainEqual({ type: 'user' });
    expect(spec.linux.uidMappings).toEqual(maps.uidMappings);
    expect(spec.linux.gidMappings).toEqual(maps.gidMappings);
    const st = statSync(join(rootfs, 'work'));
    expect([st.uid, st.gid]).toEqual([100000, 200000]);
    expect(spec.mounts.find((m) => m.destination === '/sys')).toMatchObject({ type: 'bind', source: '/sys' });
  });

  it('resolves a symlinked working directory inside the root and uses the real path', async () => {
    mkdirSync(join(rootfs, 'real/dir'), { recursive: true });
    symlinkSync('/real/dir', join(rootfs, 'link'));
    const spec = await buildRuntimeSpec(options({ workingDir: '/link/sub' }));
    expect(spec.process.cwd).toBe('/real/dir/sub');
    expect(statSync(join(rootfs, 'real/dir/sub')).isDirectory()).toBe(true);
  });

  it('never creates a working directory outside the root', async () => {
    symlinkSync('/../../../../outside', join(rootfs, 'escape'));
    const spec = await buildRuntimeSpec(options({ workingDir: '/escape/x' }));
    expect(spec.process.cwd).toBe('/outside/x');
    expect(existsSync(join(rootfs, 'outside/x'))).toBe(true);
    expect(existsSync(join(dir.path, 'outside'))).toBe(false);
  });

  const refused = (dir: string, top: string) =>
    `working directory "${dir}" is refused: it is under /${top}, which the runtime mounts over the container's files (see CVE-2024-21626); choose a directory of the image`;

  it.each([
    ['a command', { image: {} }, 'no command specified: the image has no Entrypoint or Cmd; give a command'],
    ['a container id', { containerId: '../x' }, 'invalid container id "../x": use up to 128 letters, digits, \'_\', \'.\' and \'-\''],
    ['a relative rootfs', { rootfs: 'rootfs' }, 'rootfs must be an absolute host path'],
    ['a cgroups path', { cgroupsPath: '/a/../b' }, 'invalid cgroups path "/a/../b": use an absolute path or slice:prefix:name without ".."'],
    ['a hostname', { hostname: 'bad_host' }, 'invalid hostname "bad_host": use letters, digits, \'-\' and \'.\', at most 64 characters'],
    ['a relative working dir', { workingDir: 'x' }, 'invalid working directory "x": it must be an absolute path'],
    ['/proc/self/fd/N', { workingDir: '/proc/self/fd/7' }, refused('/proc/self/fd/7', 'proc')],
    ['a relative image WorkingDir', { image: { Cmd: ['sh'], WorkingDir: 'app' } }, 'invalid working directory "app": it must be an absolute path'],
    ['an unknown user', { user: 'alice' }, "unable to find user alice: no matching entries in the image's /etc/passwd"],
    ['an unknown group', { user: 'nobody:wheel' }, "unable to find group wheel: no matching entries in the image's /etc/group"],
    ['a network namespace', { network: { path: 'netns/x' } }, 'invalid network namespace: use "host", "none" or { path: an absolute path such as /var/run/netns/NAME }'],
    ['a host file', { files: { hosts: 'hosts' } }, 'files.hosts must be an absolute host path, not "hosts"'],
    ['id mappings', { userNamespace: { uidMappings: [], gidMappings: [] } }, 'userNamespace.uidMappings must have 1 to 340 entries'],
    ['unmapped root', { userNamespace: { uidMappings: [{ containerID: 1, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] } }, 'userNamespace.uidMappings must map container id 0'],
    ['a stop signal', { image: { Cmd: ['sh'], StopSignal: 'SIGFOO' } }, 'invalid stop signal "SIGFOO": use a name such as SIGTERM or a number'],
    ['an open-files limit', { nofileLimit: 3 }, 'invalid open-files limit 3: use a whole number of at least 64'],
    ['limits', { resources: { cpus: 0 } }, 'invalid cpus 0: use a number of at least 0.01'],
  ])('refuses %s', async (_name, extra, message) => {
    expect(await failure(() => buildRuntimeSpec(options(extra as Partial<RuntimeSpecOptions>)))).toEqual({ kind: 'InvalidArgument', message });
  });

  it.each([
    ['an absolute symlink to /proc/self/fd', '/proc/self/fd/7'],
    ['a relative symlink climbing to /proc', '../../proc/1/cwd'],
    ['a symlink to /dev/fd', '/dev/fd/5'],
  ])('refuses a working directory through %s (CVE-2024-21626)', async (_name, target) => {
    symlinkSync(target, join(rootfs, 'work'));
    expect(await failure(() => buildRuntimeSpec(options({ workingDir: '/work' })))).toEqual({
      kind: 'InvalidArgument',
      message: refused('/work', target.includes('dev') ? 'dev' : 'proc'),
    });
    expect(existsSync(join(rootfs, 'proc/self'))).toBe(false);
  });

  it("adds the user's mounts with Docker's options, parents first, over a default mount of the same destination", async () => {
    const spec = await buildRuntimeSpec(
      options({
        mounts: [
          { type: 'tmpfs', destination: '/data/tmp', readOnly: false, sizeBytes: 64 << 20, mode: 0o1770 },
          { type: 'bind', source: '/srv/data', destination: '/data', readOnly: true },
          { type: 'bind', source: '/srv/logs', destination: '/logs', readOnly: false },
          { type: 'tmpfs', destination: '/dev/shm', readOnly: false, options: 'exec,size=1m,size=2m' },
        ],
      }),
    );
    const own = spec.mounts.slice(-4);
    expect(own).toEqual([
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro', 'rprivate'] },
      { destination: '/logs', type: 'bind', source: '/srv/logs', options: ['rbind', 'rprivate'] },
      { destination: '/data/tmp', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'nosuid', 'nodev', 'rprivate', 'mode=1770', 'size=64m'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'rprivate', 'exec', 'size=2m'] },
    ]);
    expect(spec.mounts.filter((m) => m.destination === '/dev/shm')).toHaveLength(1);
  });

  it.each([
    ['a relative destination', { type: 'bind', source: '/srv', destination: 'data', readOnly: false }, 'invalid mount destination "data": it must be an absolute path'],
    ['a relative bind source', { type: 'bind', source: 'srv', destination: '/data', readOnly: false }, 'the source of the mount on /data must be an absolute host path, not "srv"'],
  ] as const)('refuses a mount with %s', async (_name, mount, message) => {
    expect(await failure(() => buildRuntimeSpec(options({ mounts: [mount] })))).toEqual({ kind: 'InvalidArgument', message });
  });

  it('refuses a working directory that is a file', async () => {
    writeFileSync(join(rootfs, 'file'), 'x');
    expect(await failure(() => buildRuntimeSpec(options({ workingDir: '/file' })))).toEqual({
      kind: 'InvalidArgument',
      message: 'working directory "/file" is not a directory in the image',
    });
    expect(await failure(() => buildRuntimeSpec(options({ workingDir: '/file/sub' })))).toEqual({
      kind: 'InvalidArgument',
      message: 'working directory "/file/sub": /file is not a directory',
    });
  });
});

describe('buildExecProcess', () => {
  let dir: ReturnType<typeof tempDir>;
  let rootfs: string;
  beforeEach(() => {
    dir = tempDir('strata-rs-exec-');
    rootfs = join(dir.path, 'rootfs');
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    mkdirSync(join(rootfs, 'srv'));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  });
  afterEach(() => dir.remove());

  it('derives the exec process from the container spec', async () => {
    const spec = await buildRuntimeSpec({ containerId: 'c1', rootfs, image: { Cmd: ['sh'], Env: ['PATH=/bin', 'A=1'] }, network: 'none', cgroupsPath: '/c1' });
    const proc = await buildExecProcess(spec, rootfs, { args: ['ls', '-l'], env: ['A=2'], user: 'nobody', workingDir: '/srv', tty: true });
    expect(proc).toMatchObject({
      terminal: true,
      user: { uid: 65534, gid: 65534 },
      args: ['ls', '-l'],
      env: ['PATH=/bin', 'A=2', 'HOSTNAME=c1', 'HOME=/home', 'TERM=xterm'],
      cwd: '/srv',
      noNewPrivileges: true,
    });
    expect(proc.capabilities).toEqual(spec.process.capabilities);
    expect(spec.process.args).toEqual(['sh']);
    const same = await buildExecProcess(spec, rootfs, { args: ['true'] });
    expect(same).toMatchObject({ user: spec.process.user, env: spec.process.env, cwd: '/', terminal: false });
  });

  it.each([
    [{ args: [] }, 'no command specified: give the command to execute'],
    [{ args: ['ls'], workingDir: '/nope' }, 'working directory "/nope" does not exist in the container'],
    [{ args: ['ls'], workingDir: '/proc/self/fd/3' }, 'working directory "/proc/self/fd/3" is refused: it is under /proc, which the runtime mounts over the container\'s files (see CVE-2024-21626); choose a directory of the image'],
    [{ args: ['ls'], env: ['X'] }, 'invalid environment variable "X" in the options: use KEY=value'],
    [{ args: ['ls'], user: 'ghost' }, "unable to find user ghost: no matching entries in the image's /etc/passwd"],
  ])('refuses %j', async (execOptions, message) => {
    const spec = await buildRuntimeSpec({ containerId: 'c1', rootfs, image: { Cmd: ['sh'] }, network: 'none', cgroupsPath: '/c1' });
    expect(await failure(() => buildExecProcess(spec, rootfs, execOptions))).toEqual({ kind: 'InvalidArgument', message });
  });
});
