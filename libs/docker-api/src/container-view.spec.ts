import { describe, expect, it } from 'vitest';
import { ContainerSpec, ContainerStatus, MountType, NetworkMode, Protocol, RestartPolicyName, type Container, ContainerState } from '@strata/api/containers/v1';
import { ContainerConfig } from '@strata/api/images/v1';
import { inspectView, listView, stateName, statusText } from './container-view.js';
import { humanDuration, rfc3339, rfc3339Nano } from './human-time.js';
import { frame, stdioContentType } from './stdio-stream.js';
import { queryBool, queryFilters, queryInt } from './docker-query.js';
import { isDockerError } from './docker-error.js';

const now = new Date('2024-05-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);
const state = (s: Partial<ContainerState>): ContainerState => ContainerState.fromPartial({ status: ContainerStatus.CONTAINER_STATUS_CREATED, ...s });
const imageConfig = (c: Partial<ContainerConfig>): ContainerConfig => ContainerConfig.fromPartial(c);

function container(overrides: Partial<Container> = {}): Container {
  return {
    id: 'a'.repeat(64),
    name: 'web',
    image: 'busybox',
    imageId: `sha256:${'b'.repeat(64)}`,
    created: new Date('2024-05-01T11:59:00Z'),
    spec: ContainerSpec.fromPartial({
      image: 'busybox',
      name: 'web',
      env: ['A=1'],
      ports: [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
      networkMode: NetworkMode.NETWORK_MODE_BRIDGE,
      resources: { memoryBytes: 64 << 20, cpus: 0.5, pidsLimit: 0 },
      labels: { team: 'a' },
    }),
    state: {
      status: ContainerStatus.CONTAINER_STATUS_RUNNING,
      pid: 42,
      exitCode: 0,
      oomKilled: false,
      startedAt: new Date('2024-05-01T11:59:57Z'),
      error: '',
    },
    network: {
      mode: NetworkMode.NETWORK_MODE_BRIDGE,
      ipAddress: '10.88.0.2',
      gateway: '10.88.0.1',
      prefixLength: 16,
      ports: [{ hostIp: '', hostPort: 32768, containerPort: 80, protocol: Protocol.PROTOCOL_TCP }],
    },
    command: ['httpd', '-f'],
    node: 'n1',
    logPath: '/var/lib/strata/log.json',
    snapshotKey: 'k',
    restartCount: 1,
    ...overrides,
  };
}

describe('listView', () => {
  it('shapes a container as GET /containers/json does', () => {
    expect(listView(container(), now)).toEqual({
      Id: 'a'.repeat(64),
      Names: ['/web'],
      Image: 'busybox',
      ImageID: `sha256:${'b'.repeat(64)}`,
      Command: 'httpd -f',
      Created: Date.parse('2024-05-01T11:59:00Z') / 1000,
      Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 32768, Type: 'tcp' }],
      Labels: { team: 'a' },
      State: 'running',
      Status: 'Up 3 seconds',
      HostConfig: { NetworkMode: 'bridge' },
      NetworkSettings: { Networks: { bridge: expect.objectContaining({ IPAddress: '10.88.0.2', Gateway: '10.88.0.1', IPPrefixLen: 16 }) } },
      Mounts: [],
    });
  });
});

describe('inspectView', () => {
  it('shapes a container as GET /containers/{id}/json does, merging the image config', () => {
    const view = inspectView(
      container(),
      imageConfig({ exposedPorts: ['80/tcp', '443'], env: ['PATH=/bin', 'A=0'], cmd: ['httpd', '-f'], workingDir: '/var/www', labels: { from: 'image' }, stopSignal: 'SIGQUIT' }),
    );
    expect(view).toMatchObject({
      Id: 'a'.repeat(64),
      Name: '/web',
      Path: 'httpd',
      Args: ['-f'],
      State: { Status: 'running', Running: true, Paused: false, OOMKilled: false, Dead: false, Pid: 42, ExitCode: 0, StartedAt: '2024-05-01T11:59:57Z', FinishedAt: '0001-01-01T00:00:00Z' },
      RestartCount: 1,
      HostConfig: { NetworkMode: 'bridge', Memory: 64 << 20, NanoCpus: 500_000_000, PidsLimit: null, PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] } },
      Config: {
        Hostname: 'aaaaaaaaaaaa',
        Env: ['PATH=/bin', 'A=1'],
        Cmd: ['httpd', '-f'],
        Entrypoint: null,
        WorkingDir: '/var/www',
        Labels: { from: 'image', team: 'a' },
        ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
        StopSignal: 'SIGQUIT',
      },
      NetworkSettings: { IPAddress: '10.88.0.2', Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }], '443/tcp': null } },
    });
    expect(view).not.toHaveProperty('Node');
  });

  it("takes User and Entrypoint from the image, and drops an image variable the container names bare", () => {
    const c = container();
    const view = inspectView({ ...c, spec: { ...c.spec!, env: ['A=1', 'DROP'] } }, imageConfig({ user: 'www', env: ['PATH=/bin', 'A=0', 'DROP=1'], entrypoint: ['/entry'], cmd: ['serve'] })) as {
      Config: Record<string, unknown>;
    };
    expect(view.Config).toMatchObject({ User: 'www', Env: ['PATH=/bin', 'A=1'], Cmd: ['serve'], Entrypoint: ['/entry'] });
  });

  it('clears Cmd and replaces Entrypoint when the entrypoint is set', () => {
    const c = container();
    const view = inspectView({ ...c, spec: { ...c.spec!, entrypoint: ['sh'], entrypointSet: true } }, imageConfig({ entrypoint: ['/entry'], cmd: ['serve'] })) as {
      Config: Record<string, unknown>;
    };
    expect([view.Config['Cmd'], view.Config['Entrypoint']]).toEqual([null, ['sh']]);
  });

  it('shows -v, --mount and --tmpfs as Docker: Mounts, HostConfig.Binds, HostConfig.Mounts and HostConfig.Tmpfs', () => {
    const mounts = [
      { type: MountType.MOUNT_TYPE_BIND, source: '/srv/a', target: '/a', readOnly: true, mode: 'ro', createMountpoint: true },
      { type: MountType.MOUNT_TYPE_BIND, source: '/srv/b', target: '/b', readOnly: false, mode: '', createMountpoint: true },
      { type: MountType.MOUNT_TYPE_BIND, source: '/srv/c', target: '/c', readOnly: true },
      { type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/t', readOnly: false, tmpfsSizeBytes: 1 << 20 },
      { type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/run', readOnly: false, tmpfsOptions: 'exec' },
    ];
    const c = container({ spec: ContainerSpec.fromPartial({ image: 'busybox', mounts }) });
    const view = inspectView(c) as { Mounts: unknown; HostConfig: Record<string, unknown> };
    expect(view.Mounts).toEqual([
      { Type: 'bind', Source: '/srv/a', Destination: '/a', Mode: 'ro', RW: false, Propagation: 'rprivate' },
      { Type: 'bind', Source: '/srv/b', Destination: '/b', Mode: '', RW: true, Propagation: 'rprivate' },
      { Type: 'bind', Source: '/srv/c', Destination: '/c', Mode: '', RW: false, Propagation: 'rprivate' },
      { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' },
    ]);
    expect(view.HostConfig).toMatchObject({
      Binds: ['/srv/a:/a:ro', '/srv/b:/b'],
      Mounts: [
        { Type: 'bind', Source: '/srv/c', Target: '/c', ReadOnly: true },
        { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20 } },
      ],
      Tmpfs: { '/run': 'exec' },
    });
    expect((listView(c) as { Mounts: unknown[] }).Mounts).toHaveLength(4);
    expect(inspectView(container())).toMatchObject({ Mounts: [], HostConfig: { Binds: null } });
  });

  it('shows an exited, OOM-killed container without spec or network', () => {
    const view = inspectView(
      container({
        state: state({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 137, oomKilled: true, startedAt: ago(5000), finishedAt: ago(1000) }),
        spec: undefined,
        network: undefined,
      }),
    ) as { State: Record<string, unknown>; HostConfig: Record<string, unknown> };
    expect(view.State).toMatchObject({ Status: 'exited', Running: false, OOMKilled: true, ExitCode: 137, FinishedAt: '2024-05-01T11:59:59Z' });
    expect(view.HostConfig).toMatchObject({ NetworkMode: 'bridge', PortBindings: {}, AutoRemove: false, Memory: 0, NanoCpus: 0, PidsLimit: null });
  });
});

describe('restart policy views', () => {
  // moby's SetRestarting keeps Running true: a restarting container is running for stop, rm and ps.
  it('shows a restarting container as Docker: Running and Restarting, its policy and count in HostConfig and RestartCount', () => {
    const c = container({
      state: { status: ContainerStatus.CONTAINER_STATUS_RESTARTING, pid: 0, exitCode: 3, oomKilled: false, startedAt: ago(3_000), finishedAt: ago(1_000), error: '' },
      restartCount: 2,
    });
    c.spec!.restartPolicy = { name: RestartPolicyName.RESTART_POLICY_NAME_ON_FAILURE, maximumRetryCount: 5 };
    expect(inspectView(c)).toMatchObject({
      State: { Status: 'restarting', Running: true, Restarting: true, Paused: false, Pid: 0, ExitCode: 3 },
      RestartCount: 2,
      HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 } },
    });
    expect(listView(c, now)).toMatchObject({ State: 'restarting', Status: 'Restarting (3) 1 second ago' });
  });

  it('shows no policy as Docker shows it: no, 0', () => {
    expect(inspectView(container())).toMatchObject({ State: { Restarting: false }, HostConfig: { RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } } });
  });
});

describe('statusText', () => {
  it.each([
    ['created', state({}), 'Created'],
    ['running', state({ status: ContainerStatus.CONTAINER_STATUS_RUNNING, startedAt: ago(3_000) }), 'Up 3 seconds'],
    ['just started', state({ status: ContainerStatus.CONTAINER_STATUS_RUNNING, startedAt: ago(10) }), 'Up Less than a second'],
    ['paused', state({ status: ContainerStatus.CONTAINER_STATUS_PAUSED, startedAt: ago(120_000) }), 'Up 2 minutes (Paused)'],
    ['paused for hours', state({ status: ContainerStatus.CONTAINER_STATUS_PAUSED, startedAt: ago(2 * 3_600_000) }), 'Up 2 hours (Paused)'],
    [
      'exited',
      state({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 0, startedAt: ago(200_000), finishedAt: ago(125_000) }),
      'Exited (0) 2 minutes ago',
    ],
    [
      'killed',
      state({ status: ContainerStatus.CONTAINER_STATUS_EXITED, exitCode: 137, startedAt: ago(9_000), finishedAt: ago(5_000) }),
      'Exited (137) 5 seconds ago',
    ],
    ['exited, never started', state({ status: ContainerStatus.CONTAINER_STATUS_EXITED }), 'Created'],
    ['removing', state({ status: ContainerStatus.CONTAINER_STATUS_REMOVING }), 'Removal In Progress'],
    ['dead', state({ status: ContainerStatus.CONTAINER_STATUS_DEAD }), 'Dead'],
    [
      'restarting',
      state({ status: ContainerStatus.CONTAINER_STATUS_RESTARTING, exitCode: 3, startedAt: ago(9_000), finishedAt: ago(2_000) }),
      'Restarting (3) 2 seconds ago',
    ],
    ['no state', undefined, 'Created'],
  ])('%s: %s', (_what, s, text) => expect(statusText(s, now)).toBe(text));
});

describe('stateName', () => {
  it.each([
    [ContainerStatus.CONTAINER_STATUS_CREATED, 'created'],
    [ContainerStatus.CONTAINER_STATUS_RUNNING, 'running'],
    [ContainerStatus.CONTAINER_STATUS_EXITED, 'exited'],
    [ContainerStatus.CONTAINER_STATUS_DEAD, 'dead'],
    [ContainerStatus.CONTAINER_STATUS_RESTARTING, 'restarting'],
    [undefined, 'unknown'],
  ])('%s is %s', (status, name) => expect(stateName(status)).toBe(name));
});

describe('time texts', () => {
  it.each([
    [500, 'Less than a second'],
    [1_000, '1 second'],
    [59_000, '59 seconds'],
    [90_000, 'About a minute'],
    [3_600_000, 'About an hour'],
    [3 * 86_400_000, '3 days'],
  ])('%i ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it('writes RFC 3339 as Go does', () => {
    expect(rfc3339(new Date('2024-01-01T00:00:00.000Z'))).toBe('2024-01-01T00:00:00Z');
    expect(rfc3339(new Date('2024-01-01T00:00:00.500Z'))).toBe('2024-01-01T00:00:00.5Z');
    expect(rfc3339Nano(new Date('2024-01-01T00:00:00.123Z'))).toBe('2024-01-01T00:00:00.123000000Z');
  });
});

describe('the multiplexed stream', () => {
  it('frames a payload with its stream id and big-endian size', () => {
    expect(frame(2, Buffer.from('oops\n'))).toEqual(Buffer.from([2, 0, 0, 0, 0, 0, 0, 5, ...Buffer.from('oops\n')]));
  });

  it.each([
    [true, '1.43', 'application/vnd.docker.raw-stream'],
    [false, '1.43', 'application/vnd.docker.multiplexed-stream'],
    [false, '1.41', 'application/vnd.docker.raw-stream'],
  ])('tty %s at API %s is %s', (tty, version, type) => {
    expect(stdioContentType(tty, version)).toBe(type);
  });
});

describe('query parameters', () => {
  const refusal = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (isDockerError(err)) return `${err.status} ${err.message}`;
      throw err;
    }
    return 'accepted';
  };

  it('reads booleans, integers and filters as Docker does', () => {
    const q = new URLSearchParams('all=1&stream=True&v=0&limit=3&filters={"label":["a=b"],"status":{"running":true,"exited":false}}');
    expect([queryBool(q, 'all'), queryBool(q, 'stream'), queryBool(q, 'v'), queryBool(q, 'force', true)]).toEqual([true, true, false, true]);
    expect(queryInt(q, 'limit')).toBe(3);
    expect([...queryFilters(q)]).toEqual([
      ['label', ['a=b']],
      ['status', ['running']],
    ]);
  });

  it.each([
    ['all=maybe', () => queryBool(new URLSearchParams('all=maybe'), 'all'), '400 invalid value for query parameter all: "maybe" is not a boolean'],
    ['t=soon', () => queryInt(new URLSearchParams('t=soon'), 't', { min: 0, max: 10 }), '400 invalid value for query parameter t: "soon" is not an integer in [0, 10]'],
    ['filters={', () => queryFilters(new URLSearchParams('filters={')), /^400 invalid filters: /],
    ['filters=[1]', () => queryFilters(new URLSearchParams('filters=[1]')), '400 invalid filters: expected a JSON object of filter name to values'],
    ['filters={"a":1}', () => queryFilters(new URLSearchParams('filters={"a":1}')), '400 invalid filters: the values of filter a must be a list of strings'],
  ])('refuses %s', (_, fn, message) => {
    expect(refusal(fn)).toMatch(message);
  });
});
