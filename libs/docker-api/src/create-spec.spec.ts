import { describe, expect, it } from 'vitest';
import { ContainerSpec, MountType, NetworkMode, Protocol, RestartPolicyName } from '@strata/api/containers/v1';
import { isStrataError } from '@strata/kit';
import { createSpec } from './create-spec.js';
import { dockerStatusOf, isDockerError } from './docker-error.js';

/** What the docker CLI 20.10 sends for `docker run -d -p 0:80 -e A=1 IMAGE`, zero values included. */
const cliBody = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  ExposedPorts: { '80/tcp': {} },
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: ['A=1'],
  Cmd: null,
  Image: 'busybox',
  Volumes: {},
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: {},
  HostConfig: {
    Binds: null,
    ContainerIDFile: '',
    LogConfig: { Type: '', Config: {} },
    NetworkMode: 'default',
    PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '0' }] },
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false,
    VolumeDriver: '',
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: '',
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: '',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    UTSMode: '',
    UsernsMode: '',
    ShmSize: 0,
    ConsoleSize: [0, 0],
    Isolation: '',
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: '',
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    CpuPeriod: 0,
    CpuQuota: 0,
    Devices: [],
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: -1,
    OomKillDisable: false,
    PidsLimit: 0,
    Ulimits: null,
    MaskedPaths: null,
    ReadonlyPaths: null,
  },
  NetworkingConfig: { EndpointsConfig: {} },
};

function refusal(fn: () => unknown): { status: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (isDockerError(err) || isStrataError(err)) return { status: dockerStatusOf(err), message: err.message };
    throw err;
  }
  throw new Error('expected a DockerError');
}

describe('createSpec', () => {
  it("maps the docker CLI's body, ignoring its zero values", () => {
    // toEqual reads fromPartial's undefined resources as absent, as createSpec leaves them.
    const expected = ContainerSpec.fromPartial({
      image: 'busybox',
      name: 'web',
      env: ['A=1'],
      ports: [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
      networkMode: NetworkMode.NETWORK_MODE_BRIDGE,
    });
    expect(createSpec({ body: cliBody, name: 'web', platform: '' })).toEqual(expected);
  });

  it('maps the run options: read-only root, extra hosts, DNS, ulimits, /dev/shm size and capabilities', () => {
    const host = {
      ReadonlyRootfs: true,
      ExtraHosts: ['db:10.0.0.5', 'gw=host-gateway'],
      Dns: ['9.9.9.9'],
      DnsSearch: ['corp.example'],
      DnsOptions: ['ndots:2'],
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
      ShmSize: 134217728,
      CapAdd: ['NET_ADMIN'],
      CapDrop: ['MKNOD'],
      SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', 'no-new-privileges'],
    };
    expect(createSpec({ body: { Image: 'x', HostConfig: host }, name: '', platform: '' })).toMatchObject({
      readOnly: true,
      extraHosts: ['db:10.0.0.5', 'gw:host-gateway'],
      dns: ['9.9.9.9'],
      dnsSearch: ['corp.example'],
      dnsOptions: ['ndots:2'],
      ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
      shmSizeBytes: 134217728,
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      securityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', 'no-new-privileges'],
    });
  });

  it('maps Binds, Mounts and Tmpfs', () => {
    const spec = createSpec({
      body: {
        Image: 'busybox',
        HostConfig: {
          Binds: ['/srv/a:/a:ro', '/srv/b:/b'],
          Mounts: [
            { Type: 'bind', Source: '/srv/c', Target: '/c', ReadOnly: true, BindOptions: { Propagation: '' } },
            { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o700 } },
          ],
          Tmpfs: { '/run': 'exec' },
        },
      },
      name: '',
      platform: '',
    });
    const base = { createMountpoint: false, tmpfsSizeBytes: 0, tmpfsMode: 0 };
    expect(spec.mounts).toEqual([
      { ...base, type: MountType.MOUNT_TYPE_BIND, source: '/srv/a', target: '/a', readOnly: true, mode: 'ro', createMountpoint: true },
      { ...base, type: MountType.MOUNT_TYPE_BIND, source: '/srv/b', target: '/b', readOnly: false, mode: '', createMountpoint: true },
      { ...base, type: MountType.MOUNT_TYPE_BIND, source: '/srv/c', target: '/c', readOnly: true },
      { ...base, type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/t', readOnly: false, tmpfsSizeBytes: 1 << 20, tmpfsMode: 0o700 },
      { ...base, type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/run', readOnly: false, tmpfsOptions: 'exec' },
    ]);
  });

  it('makes an anonymous volume of each Config.Volumes path no mount covers, and takes named volumes', () => {
    const spec = createSpec({
      body: { Image: 'busybox', Volumes: { '/data': {}, '/a/': {} }, HostConfig: { Binds: ['/srv/a:/a', 'cache:/cache:ro'], Mounts: [{ Type: 'volume', Source: 'v2', Target: '/v2' }] } },
      name: '',
      platform: '',
    });
    const base = { createMountpoint: false, tmpfsSizeBytes: 0, tmpfsMode: 0 };
    expect(spec.mounts).toEqual([
      { ...base, type: MountType.MOUNT_TYPE_BIND, source: '/srv/a', target: '/a', readOnly: false, mode: '', createMountpoint: true },
      { ...base, type: MountType.MOUNT_TYPE_VOLUME, source: 'cache', target: '/cache', readOnly: true, mode: 'ro' },
      { ...base, type: MountType.MOUNT_TYPE_VOLUME, source: 'v2', target: '/v2', readOnly: false },
      { ...base, type: MountType.MOUNT_TYPE_VOLUME, source: '', target: '/data', readOnly: false },
    ]);
  });

  it('maps commands, terminal, limits, network and removal', () => {
    const spec = createSpec({
      body: {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'echo hi'],
        Entrypoint: ['/bin/env'],
        WorkingDir: '/tmp',
        User: 'nobody',
        Tty: true,
        OpenStdin: true,
        Hostname: 'box',
        Labels: { team: 'a' },
        StopSignal: 'SIGINT',
        StopTimeout: 3,
        HostConfig: { Memory: 64 << 20, CpuQuota: 50_000, CpuPeriod: 100_000, PidsLimit: 50, AutoRemove: true, NetworkMode: 'host' },
      },
      name: '',
      platform: 'linux/amd64',
    });
    expect(spec).toMatchObject({
      cmd: ['sh', '-c', 'echo hi'],
      entrypoint: ['/bin/env'],
      entrypointSet: true,
      workingDir: '/tmp',
      user: 'nobody',
      tty: true,
      openStdin: true,
      hostname: 'box',
      labels: { team: 'a' },
      stopSignal: 'SIGINT',
      stopTimeoutSeconds: 3,
      resources: { memoryBytes: 64 << 20, cpus: 0.5, pidsLimit: 50 },
      autoRemove: true,
      networkMode: NetworkMode.NETWORK_MODE_HOST,
      platform: 'linux/amd64',
    });
  });

  it.each([
    [{ NanoCpus: 1_500_000_000 }, { memoryBytes: 0, cpus: 1.5, pidsLimit: 0, cpuShares: 0, cpusetCpus: '', cpusetMems: '' }],
    [{ PidsLimit: -1 }, { memoryBytes: 0, cpus: 0, pidsLimit: -1, cpuShares: 0, cpusetCpus: '', cpusetMems: '' }],
    [{ CpuShares: 512, CpusetCpus: '0-1', CpusetMems: '0' }, { memoryBytes: 0, cpus: 0, pidsLimit: 0, cpuShares: 512, cpusetCpus: '0-1', cpusetMems: '0' }],
    [{ PidsLimit: 0 }, undefined],
    [{ PidsLimit: null }, undefined],
  ])('maps the limits %j', (host, resources) => {
    expect(createSpec({ body: { Image: 'x', HostConfig: host }, name: '', platform: '' }).resources).toEqual(resources);
  });

  it.each([
    [[''], true],
    [[], true],
    [null, false],
  ])('clears the entrypoint for %j: %s', (entrypoint, set) => {
    const spec = createSpec({ body: { Image: 'x', Entrypoint: entrypoint }, name: '', platform: '' });
    expect({ entrypoint: spec.entrypoint, set: spec.entrypointSet }).toEqual({ entrypoint: [], set });
  });

  it('publishes every exposed port of body and image with PublishAllPorts', () => {
    const spec = createSpec({
      body: { Image: 'x', ExposedPorts: { '53/udp': {} }, HostConfig: { PublishAllPorts: true, PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } },
      name: '',
      platform: '',
      imageExposedPorts: ['80/tcp', '443/tcp'],
    });
    expect(spec.ports).toEqual([
      { hostIp: '', hostPort: 8080, containerPort: 80, protocol: Protocol.PROTOCOL_TCP },
      { hostIp: '', hostPort: 0, containerPort: 53, protocol: Protocol.PROTOCOL_UDP },
      { hostIp: '', hostPort: 0, containerPort: 443, protocol: Protocol.PROTOCOL_TCP },
    ]);
  });

  it.each([
    [{}, 'invalid Image: an image is required'],
    [{ Image: 'x', Volumes: { data: {} } }, `invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`],
    [{ Image: 'x', Healthcheck: { Test: ['CMD'] } }, 'invalid Healthcheck test ["CMD"]: use ["NONE"], ["CMD", command…] or ["CMD-SHELL", "command line"]'],
    [{ Image: 'x', Healthcheck: { Test: ['CMD', 'true'], Interval: 10 } }, 'Interval in Healthcheck cannot be less than 1ms'],
    [{ Image: 'x', HostConfig: { Binds: ['/tmp:/x:rx'] } }, 'invalid mode: rx'],
    [{ Image: 'x', HostConfig: { Binds: ['/tmp:/'] } }, `invalid volume specification: '/tmp:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
    [{ Image: 'x', HostConfig: { Binds: ['/a:/x'], Tmpfs: { '/x': '' } } }, 'Duplicate mount point: /x'],
    [{ Image: 'x', HostConfig: { Tmpfs: { '/t': 'size=1m,bogus' } } }, 'invalid tmpfs option ["bogus"]'],
    [{ Image: 'x', HostConfig: { Mounts: [{ Type: 'npipe', Target: '/x' }] } }, 'invalid mount config for type "npipe": mount type unknown'],
    [{ Image: 'x', HostConfig: { Mounts: [{ Type: 'bind', Target: '/x' }] } }, 'invalid mount config for type "bind": field Source must not be empty'],
    [{ Image: 'x', HostConfig: { Mounts: [{ Type: 'tmpfs', Target: 'x' }] } }, `invalid mount config for type "tmpfs": invalid mount path: 'x' mount path must be absolute`],
    [
      { Image: 'x', HostConfig: { Mounts: [{ Type: 'bind', Source: '/a', Target: '/x', BindOptions: { Propagation: 'rshared' } }] } },
      "unsupported option HostConfig.Mounts[0].BindOptions.Propagation: rshared (Strata's binds are rprivate)",
    ],
    [{ Image: 'x', HostConfig: { Privileged: true } }, "unsupported option HostConfig.Privileged: Strata's Docker API does not implement it; leave it unset"],
    [{ Image: 'x', HostConfig: { Devices: [{ PathOnHost: '/dev/kvm' }] } }, "unsupported option HostConfig.Devices: Strata's Docker API does not implement it; leave it unset"],
    [{ Image: 'x', HostConfig: { ExtraHosts: ['db'] } }, 'invalid argument "db" for --add-host: expected HOST:IP'],
    [{ Image: 'x', HostConfig: { SecurityOpt: ['apparmor=docker-default'] } }, 'invalid --security-opt "apparmor=docker-default": this node has no AppArmor'],
    [{ Image: 'x', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
    [{ Image: 'x', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 2 } } }, "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    [{ Image: 'x', HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -2 } } }, 'invalid restart policy: maximum retry count cannot be negative'],
    [{ Image: 'x', HostConfig: { RestartPolicy: { Name: 'always' }, AutoRemove: true } }, "can't create 'AutoRemove' container with restart policy"],
    [{ Image: 'x', HostConfig: { LogConfig: { Type: 'syslog' } } }, 'unsupported option HostConfig.LogConfig: log driver syslog is not implemented; use json-file'],
    [{ Image: 'x', HostConfig: { MemorySwap: 1 << 30 } }, 'unsupported option HostConfig.MemorySwap: swap limits are not implemented; leave it unset'],
    [{ Image: 'x', HostConfig: { NetworkMode: 'container:abc' } }, 'unsupported option HostConfig.NetworkMode: container:abc (Strata has default, bridge, host and none)'],
    [{ Image: 'x', NetworkingConfig: { EndpointsConfig: { mynet: {} } } }, 'unsupported option NetworkingConfig.EndpointsConfig: network mynet does not exist (Strata has bridge, host and none)'],
    [{ Image: 'x', HostConfig: { NanoCpus: 1e9, CpuQuota: 50_000 } }, 'Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set'],
    [{ Image: 'x', HostConfig: { Memory: '1g' } }, 'invalid HostConfig.Memory: expected an integer number of bytes'],
    [{ Image: 'x', Env: 'A=1' }, 'invalid Env: expected a list of "KEY=value" strings'],
    [{ Image: 'x', Cmd: [1] }, 'invalid Cmd: expected a list of strings'],
    [{ Image: 'x', Tty: 'yes' }, 'invalid Tty: expected a boolean'],
    [{ Image: 'x', ExposedPorts: { '80/sctp': {} } }, 'invalid port 80/sctp: protocol sctp is not supported (tcp or udp)'],
    [{ Image: 'x', ExposedPorts: { '70000/tcp': {} } }, 'invalid port 70000/tcp: expected PORT[/PROTOCOL] with PORT in 1-65535 (port ranges are not supported)'],
    [{ Image: 'x', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8000-8001' }] } } }, 'invalid HostConfig.PortBindings[80/tcp]: host port 8000-8001 is not a port number (ranges are not supported)'],
    [{ Image: 'x', HostConfig: { NetworkMode: 'none', PortBindings: { '80/tcp': [{ HostPort: '80' }] } } }, 'invalid HostConfig.PortBindings: published ports need the bridge network, not none'],
  ])('refuses %j with 400', (body, message) => {
    expect(refusal(() => createSpec({ body, name: '', platform: '' }))).toEqual({ status: 400, message });
  });

  it.each([
    [{ Name: 'always' }, { name: RestartPolicyName.RESTART_POLICY_NAME_ALWAYS, maximumRetryCount: 0 }],
    [{ Name: 'unless-stopped', MaximumRetryCount: 0 }, { name: RestartPolicyName.RESTART_POLICY_NAME_UNLESS_STOPPED, maximumRetryCount: 0 }],
    [{ Name: 'on-failure', MaximumRetryCount: 3 }, { name: RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, maximumRetryCount: 3 }],
    [{ Name: 'no', MaximumRetryCount: 0 }, undefined],
    // Docker before 25 sent an empty name with any count: no policy.
    [{ Name: '', MaximumRetryCount: 5 }, undefined],
  ])('maps RestartPolicy %j', (policy, restartPolicy) => {
    expect(createSpec({ body: { Image: 'x', HostConfig: { RestartPolicy: policy } }, name: '', platform: '' }).restartPolicy).toEqual(restartPolicy);
  });
});
