import { MountType, NetworkMode, Protocol, RestartPolicyName } from '@strata/api/containers/v1';
import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { buildContainerSpec, healthOfFlags, readSeccompProfiles, toPortMapping, toResources, toRestartPolicy, type SpecFlagValues } from './container-spec.js';

const base: SpecFlagValues = { interactive: false, tty: false, rm: false, env: [], publish: [], network: 'bridge', label: [] };

const fails = (fn: () => unknown): { kind: string; message: string } => {
  try {
    fn();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected an error');
};

describe('toPortMapping', () => {
  it.each([
    ['80', { hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
    ['8080:80', { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
    ['0:80', { hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
    ['127.0.0.1:5353:53/udp', { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: Protocol.PROTOCOL_UDP }],
    ['127.0.0.1::53', { hostIp: '127.0.0.1', hostPort: 0, containerPort: 53, protocol: Protocol.PROTOCOL_TCP }],
  ])('%s', (text, mapping) => expect(toPortMapping(text)).toEqual(mapping));

  it.each([
    ['99999:80', 'invalid port mapping "99999:80": host port "99999" is not a port number (1-65535, or 0 to pick one)'],
    ['80:0', 'invalid port mapping "80:0": container port "0" is not a port number (1-65535)'],
    ['80/sctp', 'invalid port mapping "80/sctp": protocol must be tcp or udp, not "sctp"'],
  ])('%s is refused', (text, message) => expect(fails(() => toPortMapping(text))).toEqual({ kind: 'InvalidArgument', message }));
});

describe('toResources', () => {
  it('is undefined without limits (-c 0 is none, as Docker)', () => {
    expect(toResources({})).toBeUndefined();
    expect(toResources({ cpuShares: 0 })).toBeUndefined();
  });

  it.each([
    [{ memory: '64m' }, { memoryBytes: 64 * 1024 * 1024, cpus: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' }],
    [{ cpus: 0.5, pidsLimit: 100 }, { memoryBytes: 0, cpus: 0.5, pidsLimit: 100, cpuShares: 0, cpusetCpus: '', cpusetMems: '' }],
    [{ memory: '1g', cpus: 2, pidsLimit: -1 }, { memoryBytes: 1024 ** 3, cpus: 2, pidsLimit: -1, cpuShares: 0, cpusetCpus: '', cpusetMems: '' }],
    // Docker's -m 0: no limit (and no change for update).
    [{ memory: '0' }, { memoryBytes: 0, cpus: 0, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' }],
    [{ memory: '0m', cpus: 0.5 }, { memoryBytes: 0, cpus: 0.5, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' }],
    [{ cpuShares: 512, cpusetCpus: '0-1', cpusetMems: '0' }, { memoryBytes: 0, cpus: 0, pidsLimit: 0, cpuShares: 512, cpusetCpus: '0-1', cpusetMems: '0' }],
  ])('%j', (flags, resources) => expect(toResources(flags)).toEqual(resources));

  it.each([
    [{ memory: '12x' }, 'invalid memory size "12x": expected a number with an optional unit b, k, m, g or t, like 64m'],
    [{ memory: '1m' }, 'invalid memory limit 1048576: the minimum is 6 MiB (6291456 bytes)'],
    [{ cpus: 0.001 }, 'invalid cpus 0.001: the smallest limit is 0.01 CPUs'],
    [{ cpuShares: 1 }, 'invalid cpu shares 1: use a whole number from 2 to 262144 (1024 is the default weight)'],
    [{ cpusetCpus: '0-' }, 'invalid value "0-" for --cpuset-cpus: use a list such as 0-3,6'],
  ])('%j is refused', (flags, message) => expect(fails(() => toResources(flags))).toEqual({ kind: 'InvalidArgument', message }));
});

describe('--restart', () => {
  const build = (flags: Partial<SpecFlagValues>) => buildContainerSpec({ image: 'busybox', command: [], flags: { ...base, ...flags }, envFiles: [], env: {} });

  it.each([
    ['always', { name: RestartPolicyName.RESTART_POLICY_NAME_ALWAYS, maximumRetryCount: 0 }],
    ['on-failure:2', { name: RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, maximumRetryCount: 2 }],
    ['no', { name: RestartPolicyName.RESTART_POLICY_NAME_NO, maximumRetryCount: 0 }],
  ])('%s', (restart, policy) => {
    expect(toRestartPolicy(restart)).toEqual(policy);
    expect(build({ restart }).restartPolicy).toEqual(policy);
  });

  it('is left out when not given, and is no with --rm', () => {
    expect(build({}).restartPolicy).toBeUndefined();
    expect(build({ rm: true, restart: 'no' }).autoRemove).toBe(true);
  });

  it.each([
    [{ restart: 'always', rm: true }, 'Conflicting options: --restart and --rm'],
    [{ restart: 'on-failure:x' }, 'invalid restart policy format: maximum retry count must be an integer'],
    [{ restart: 'always:1' }, "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    [{ restart: 'sometimes' }, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
  ])('refuses %j with the docker texts', (flags, message) => {
    expect(fails(() => build(flags))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('buildContainerSpec', () => {
  it('maps the defaults to an empty spec on the image', () => {
    expect(buildContainerSpec({ image: 'busybox', command: [], flags: base, envFiles: [], env: {} })).toEqual({
      image: 'busybox',
      name: '',
      cmd: [],
      entrypoint: [],
      entrypointSet: false,
      env: [],
      workingDir: '',
      user: '',
      tty: false,
      openStdin: false,
      hostname: '',
      ports: [],
      networkMode: NetworkMode.NETWORK_MODE_BRIDGE,
      autoRemove: false,
      labels: {},
      stopSignal: '',
      stopTimeoutSeconds: 0,
      platform: '',
      userNamespace: false,
      mounts: [],
      readOnly: false,
      extraHosts: [],
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
      ulimits: [],
      shmSizeBytes: 0,
      capAdd: [],
      capDrop: [],
      securityOpt: [],
    });
  });

  it('maps every flag', () => {
    const spec = buildContainerSpec({
      image: 'busybox:1.36',
      command: ['sh', '-c', 'echo hi'],
      flags: {
        ...base,
        interactive: true,
        tty: true,
        rm: true,
        name: 'web',
        env: ['B=from-flag', 'HOME'],
        workdir: '/tmp',
        user: '1000:1000',
        publish: ['8080:80'],
        hostname: 'box',
        userns: 'private',
        entrypoint: '/bin/sh',
        label: ['team=a'],
        stopSignal: 'SIGQUIT',
        stopTimeout: 3,
        platform: 'linux/arm64',
        memory: '64m',
        cpus: 0.5,
        pidsLimit: 50,
        readOnly: true,
        addHost: ['db:10.0.0.5', 'gw=host-gateway'],
        dns: ['1.1.1.1'],
        dnsSearch: ['corp.example'],
        dnsOption: ['ndots:2'],
        ulimit: ['nofile=1024:2048', 'memlock=-1'],
        shmSize: '128m',
        capAdd: ['NET_ADMIN'],
        capDrop: ['all'],
        securityOpt: ['seccomp=unconfined', 'no-new-privileges:true'],
      },
      envFiles: [{ path: 'a.env', text: 'A=1\nB=from-file\n' }],
      env: { HOME: '/root' },
    });
    expect(spec).toEqual({
      image: 'busybox:1.36',
      name: 'web',
      cmd: ['sh', '-c', 'echo hi'],
      entrypoint: ['/bin/sh'],
      entrypointSet: true,
      env: ['A=1', 'B=from-file', 'B=from-flag', 'HOME=/root'],
      workingDir: '/tmp',
      user: '1000:1000',
      tty: true,
      openStdin: true,
      hostname: 'box',
      ports: [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
      networkMode: NetworkMode.NETWORK_MODE_BRIDGE,
      resources: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pidsLimit: 50, cpuShares: 0, cpusetCpus: '', cpusetMems: '' },
      autoRemove: true,
      labels: { team: 'a' },
      stopSignal: 'SIGQUIT',
      stopTimeoutSeconds: 3,
      platform: 'linux/arm64',
      userNamespace: true,
      mounts: [],
      readOnly: true,
      extraHosts: ['db:10.0.0.5', 'gw:host-gateway'],
      dns: ['1.1.1.1'],
      dnsSearch: ['corp.example'],
      dnsOptions: ['ndots:2'],
      ulimits: [
        { name: 'nofile', soft: 1024, hard: 2048 },
        { name: 'memlock', soft: -1, hard: -1 },
      ],
      shmSizeBytes: 128 * 1024 * 1024,
      capAdd: ['NET_ADMIN'],
      capDrop: ['all'],
      securityOpt: ['seccomp=unconfined', 'no-new-privileges:true'],
    });
  });

  it('maps -v, --mount and --tmpfs, relative sources against cwd', () => {
    const spec = buildContainerSpec({
      image: 'x',
      command: [],
      flags: { ...base, volume: ['./data:/data:ro'], mount: ['type=tmpfs,dst=/t,tmpfs-size=1m'], tmpfs: ['/run:exec'] },
      envFiles: [],
      env: {},
      cwd: '/home/u',
    });
    expect(spec.mounts).toEqual([
      { type: MountType.MOUNT_TYPE_BIND, source: '/home/u/data', target: '/data', readOnly: true, mode: 'ro', createMountpoint: true, tmpfsSizeBytes: 0, tmpfsMode: 0 },
      { type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/t', readOnly: false, createMountpoint: false, tmpfsSizeBytes: 1 << 20, tmpfsMode: 0 },
      { type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/run', readOnly: false, createMountpoint: false, tmpfsSizeBytes: 0, tmpfsMode: 0, tmpfsOptions: 'exec' },
    ]);
  });

  it('clears the entrypoint with an empty --entrypoint', () => {
    const spec = buildContainerSpec({ image: 'x', command: [], flags: { ...base, entrypoint: '' }, envFiles: [], env: {} });
    expect([spec.entrypoint, spec.entrypointSet]).toEqual([[], true]);
  });

  it.each([
    [{ publish: ['80'], network: 'host' as const }, 'published ports (-p) need the bridge network, not --network host'],
    [{ platform: 'linux/' }, 'invalid platform "linux/": expected os[/arch[/variant]], e.g. linux/arm64'],
    [{ env: ['=1'] }, 'invalid environment variable: =1'],
    [{ volume: ['/a:/b:rx'] }, 'invalid mode: rx'],
    [{ mount: ['type=bind,src=/a'] }, 'invalid argument "type=bind,src=/a" for "--mount" flag: target is required'],
    [{ tmpfs: ['/t:bogus'] }, 'invalid tmpfs option ["bogus"]'],
  ])('%j is refused', (flags, message) => {
    const failure = fails(() => buildContainerSpec({ image: 'x', command: [], flags: { ...base, ...flags }, envFiles: [], env: {} }));
    expect(failure.kind).toBe('InvalidArgument');
    expect(failure.message).toBe(message);
  });
});

describe('--security-opt seccomp=FILE', () => {
  const files: Record<string, string> = { 'p.json': '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n', 'bad.json': '{ defaultAction' };
  const read = async (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };

  it('sends the file as compacted JSON, as the docker CLI does; unconfined, builtin and inline JSON stay', async () => {
    expect(await readSeccompProfiles(['seccomp=p.json', 'no-new-privileges', 'seccomp:unconfined', 'seccomp=builtin', 'seccomp={"defaultAction":"SCMP_ACT_LOG"}'], read)).toEqual([
      'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}',
      'no-new-privileges',
      'seccomp:unconfined',
      'seccomp=builtin',
      'seccomp={"defaultAction":"SCMP_ACT_LOG"}',
    ]);
  });

  it("refuses a file that cannot be read or is not JSON, with Docker's texts", async () => {
    await expect(readSeccompProfiles(['seccomp=missing.json'], read)).rejects.toThrow('opening seccomp profile (missing.json) failed: ENOENT');
    await expect(readSeccompProfiles(['seccomp=bad.json'], read)).rejects.toThrow(/^compacting json for seccomp profile \(bad.json\) failed: /);
  });

  it('refuses options the node does not have before anything is sent', () => {
    const flags = { ...base, securityOpt: ['label=type:svirt_apache_t'] };
    expect(() => buildContainerSpec({ image: 'busybox', command: [], flags, envFiles: [], env: {} })).toThrow('invalid --security-opt "label=type:svirt_apache_t": this node has no SELinux');
  });
});

describe('--health-* flags', () => {
  it("read as the docker CLI reads them: the command through the shell, Go durations", () => {
    expect(healthOfFlags({ ...base })).toEqual({});
    expect(healthOfFlags({ ...base, healthCmd: 'curl -f localhost', healthInterval: '1m30s', healthTimeout: '500ms', healthRetries: 4 })).toEqual({
      health: { test: ['CMD-SHELL', 'curl -f localhost'], intervalNanos: 90e9, timeoutNanos: 500e6, startPeriodNanos: 0, startIntervalNanos: 0, retries: 4 },
    });
    expect(healthOfFlags({ ...base, healthStartPeriod: '10s' }).health?.test).toEqual([]);
    expect(healthOfFlags({ ...base, noHealthcheck: true }).health?.test).toEqual(['NONE']);
  });

  it.each([
    [{ noHealthcheck: true, healthCmd: 'true' }, '--no-healthcheck conflicts with --health-* options'],
    [{ healthInterval: '10' }, 'invalid argument "10" for --health-interval: time: invalid duration "10"'],
    [{ healthCmd: 'true', healthTimeout: '10ns' }, 'Timeout in Healthcheck cannot be less than 1ms'],
  ])('refuses %j', (flags, message) => {
    expect(fails(() => healthOfFlags({ ...base, ...flags }))).toEqual({ kind: 'InvalidArgument', message });
  });
});
