import { ContainerStatus, MountType, NetworkMode, Protocol, RestartPolicyName, type ContainerSpec as ProtoSpec } from '@strata/api/containers/v1';
import { recordFixture } from '@strata/containers/testing';
import { errorKind } from '@strata/kit';
import { describe, expect, it } from 'vitest';
import { containerToProto, specFromProto } from './proto-convert.js';
import { parseSignal } from './signals.js';

const base: ProtoSpec = {
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
  networkMode: NetworkMode.NETWORK_MODE_UNSPECIFIED,
  resources: undefined,
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
};

const raised = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return { kind: errorKind(e), message: (e as Error).message };
  }
  return undefined;
};

describe('specFromProto', () => {
  it('leaves unset fields out and maps enums', () => {
    expect(specFromProto(base)).toEqual({
      image: 'busybox',
      cmd: [],
      env: [],
      tty: false,
      openStdin: false,
      ports: [],
      networkMode: 'bridge',
      resources: {},
      autoRemove: false,
      labels: {},
      userNamespace: false,
      mounts: [],
    });
    const full = specFromProto({
      ...base,
      name: 'web',
      entrypoint: [],
      entrypointSet: true,
      ports: [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: Protocol.PROTOCOL_UDP }],
      networkMode: NetworkMode.NETWORK_MODE_HOST,
      resources: { memoryBytes: 1 << 24, cpus: 0.5, pidsLimit: -1, cpuShares: 512, cpusetCpus: '0', cpusetMems: '' },
    });
    expect(full).toMatchObject({
      name: 'web',
      entrypoint: [],
      ports: [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: 'udp' }],
      networkMode: 'host',
    });
    expect(full.resources).toEqual({ memoryBytes: 1 << 24, cpus: 0.5, pidsLimit: -1, cpuShares: 512, cpusetCpus: '0' });
  });

  it.each([
    ['no spec', undefined, 'the container spec is missing'],
    ['no image', { ...base, image: '' }, 'an image is required'],
    ['an unknown mode', { ...base, networkMode: 9 as NetworkMode }, 'unknown network mode 9: use bridge, none or host'],
    [
      'a mount without type',
      { ...base, mounts: [{ type: MountType.MOUNT_TYPE_UNSPECIFIED, source: '', target: '/x', readOnly: false, mode: '', createMountpoint: false, tmpfsSizeBytes: 0, tmpfsMode: 0 }] },
      'unknown mount type 0 for /x: use bind, volume or tmpfs',
    ],
  ])('refuses %s', (_what, spec, message) => {
    expect(raised(() => specFromProto(spec))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('mounts', () => {
  it('round-trip between the wire and the record', () => {
    const mounts = [
      { type: MountType.MOUNT_TYPE_BIND, source: '/srv', target: '/data', readOnly: true, mode: 'ro', createMountpoint: true, tmpfsSizeBytes: 0, tmpfsMode: 0 },
      { type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/run', readOnly: false, createMountpoint: false, tmpfsSizeBytes: 1 << 20, tmpfsMode: 0o700 },
      { type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/t', readOnly: false, createMountpoint: false, tmpfsSizeBytes: 0, tmpfsMode: 0, tmpfsOptions: '' },
    ];
    const spec = specFromProto({ ...base, mounts });
    expect(spec.mounts).toEqual([
      { type: 'bind', source: '/srv', target: '/data', readOnly: true, mode: 'ro', createMountpoint: true },
      { type: 'tmpfs', source: '', target: '/run', readOnly: false, tmpfsSizeBytes: 1 << 20, tmpfsMode: 0o700 },
      { type: 'tmpfs', source: '', target: '/t', readOnly: false, tmpfsOptions: '' },
    ]);
    const { name: _name, ...fields } = spec;
    expect(containerToProto(recordFixture({ spec: fields })).spec?.mounts).toEqual(mounts);
  });
});

describe('containerToProto', () => {
  it('gives the wire form of a record', () => {
    const r = recordFixture({ state: { status: 'exited', pid: 0, exitCode: 2, oomKilled: true, startedAt: '2024-01-01T00:00:01.000Z', finishedAt: '2024-01-01T00:00:02.000Z', error: '' } });
    const c = containerToProto(r);
    expect(c.state).toEqual({
      status: ContainerStatus.CONTAINER_STATUS_EXITED,
      pid: 0,
      exitCode: 2,
      oomKilled: true,
      startedAt: new Date('2024-01-01T00:00:01Z'),
      finishedAt: new Date('2024-01-01T00:00:02Z'),
      error: '',
    });
    expect(c).toMatchObject({ id: r.id, name: r.name, created: new Date(r.created), network: { mode: NetworkMode.NETWORK_MODE_BRIDGE, ipAddress: '' } });
    expect(c.spec).toMatchObject({ image: 'busybox', entrypointSet: false, networkMode: NetworkMode.NETWORK_MODE_BRIDGE });
  });
});

describe('restart policies', () => {
  it('round-trip between the wire and the record, restart count and restarting status included', () => {
    const spec = specFromProto({ ...base, restartPolicy: { name: RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, maximumRetryCount: 2 } });
    expect(spec.restartPolicy).toEqual({ name: 'on-failure', maximumRetryCount: 2 });
    expect(specFromProto(base).restartPolicy).toBeUndefined();
    const r = recordFixture({ spec: { ...recordFixture().spec, restartPolicy: { name: 'always', maximumRetryCount: 0 } }, restartCount: 3 });
    const c = containerToProto({ ...r, state: { ...r.state, status: 'restarting' } });
    expect(c).toMatchObject({ restartCount: 3, state: { status: ContainerStatus.CONTAINER_STATUS_RESTARTING } });
    expect(c.spec?.restartPolicy).toEqual({ name: RestartPolicyName.RESTART_POLICY_NAME_ALWAYS, maximumRetryCount: 0 });
  });

  it.each([
    [{ name: RestartPolicyName.RESTART_POLICY_NAME_ALWAYS, maximumRetryCount: 1 }, "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    [{ name: RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, maximumRetryCount: -1 }, 'invalid restart policy: maximum retry count cannot be negative'],
    [{ name: 99 as RestartPolicyName, maximumRetryCount: 0 }, "invalid restart policy: unknown policy '99'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
  ])('refuses %j', (restartPolicy, message) => {
    expect(raised(() => specFromProto({ ...base, restartPolicy }))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('parseSignal', () => {
  it.each([
    ['', 'SIGKILL'],
    ['hup', 'SIGHUP'],
    ['SIGTERM', 'SIGTERM'],
    ['9', 'SIGKILL'],
    ['USR1', 'SIGUSR1'],
  ])('reads %j as %s', (text, signal) => {
    expect(parseSignal(text)).toBe(signal);
  });

  it.each([['SIGNOPE'], ['999'], ['-1']])('refuses %j', (text) => {
    expect(raised(() => parseSignal(text))).toEqual({ kind: 'InvalidArgument', message: `invalid signal: ${text}` });
  });
});
