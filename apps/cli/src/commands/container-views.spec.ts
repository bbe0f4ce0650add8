import { ContainerSpec, ContainerStatus, MountType, NetworkMode, Protocol, type Container, ContainerState, type PortMapping } from '@strata/api/containers/v1';
import { ContainerConfig } from '@strata/api/images/v1';
import { inspectView as dockerInspectView } from '@strata/docker-api/views';
import { describe, expect, it } from 'vitest';
import { formatTable } from '../framework/table.js';
import {
  PS_HEADERS,
  STATS_HEADERS,
  commandText,
  inspectView,
  parsePrivatePort,
  portLines,
  portsText,
  psCells,
  psFields,
  psRows,
  statsCells,
  statsRows,
} from './container-views.js';

const now = new Date('2026-01-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);
const ID = 'a'.repeat(20) + 'b'.repeat(44);
const TCP = Protocol.PROTOCOL_TCP;
const UDP = Protocol.PROTOCOL_UDP;
const port = (hostPort: number, containerPort: number, protocol = TCP, hostIp = '0.0.0.0'): PortMapping => ({
  hostIp,
  hostPort,
  containerPort,
  protocol,
});
const state = (s: Partial<ContainerState>): ContainerState => ContainerState.fromPartial({ status: ContainerStatus.CONTAINER_STATUS_CREATED, ...s });

describe('portsText', () => {
  it.each([
    ['none', [], ''],
    ['one mapping', [port(8080, 80)], '0.0.0.0:8080->80/tcp'],
    ['empty host ip', [port(8080, 80, TCP, '')], '0.0.0.0:8080->80/tcp'],
    ['udp on an address', [port(5353, 53, UDP, '127.0.0.1')], '127.0.0.1:5353->53/udp'],
    ['sorted by container port', [port(9000, 443), port(8080, 80)], '0.0.0.0:8080->80/tcp, 0.0.0.0:9000->443/tcp'],
    ['same ports folded into a range', [port(8001, 8001), port(8000, 8000), port(8002, 8002)], '0.0.0.0:8000-8002->8000-8002/tcp'],
    ['ranges split by a gap', [port(80, 80), port(82, 82)], '0.0.0.0:80->80/tcp, 0.0.0.0:82->82/tcp'],
    ['same ports before mappings', [port(8080, 80), port(53, 53, UDP)], '0.0.0.0:53->53/udp, 0.0.0.0:8080->80/tcp'],
    ['IPv6 in brackets', [port(8080, 80, TCP, '::')], '[::]:8080->80/tcp'],
  ])('%s', (_what, ports, text) => expect(portsText(ports)).toBe(text));
});

describe('commandText', () => {
  it.each([
    [['echo', 'hi'], false, '"echo hi"'],
    [['sh', '-c', 'echo "a b"'], true, '"sh -c echo \\"a b\\""'],
    [['httpd', '-f', '-p', '80', '-h', '/www'], false, '"httpd -f -p 80 -h /…"'],
    [['httpd', '-f', '-p', '80', '-h', '/www'], true, '"httpd -f -p 80 -h /www"'],
    [[], false, '""'],
  ])('%j (noTrunc %s) is %s', (command, noTrunc, text) => expect(commandText(command, noTrunc)).toBe(text));
});

const container = (c: Partial<Container> = {}): Container => ({
  id: ID,
  name: 'web',
  image: 'busybox:1.36',
  imageId: 'sha256:' + 'c'.repeat(64),
  created: ago(120_000),
  command: ['httpd', '-f', '-p', '80'],
  node: 'node-1',
  logPath: '/var/lib/strata/containers/x/log.json',
  snapshotKey: 'k',
  restartCount: 0,
  state: state({ status: ContainerStatus.CONTAINER_STATUS_RUNNING, pid: 42, startedAt: ago(3_000) }),
  network: { mode: NetworkMode.NETWORK_MODE_BRIDGE, ipAddress: '10.88.0.2', gateway: '10.88.0.1', prefixLength: 16, ports: [port(8080, 80)] },
  spec: ContainerSpec.fromPartial({
    image: 'busybox:1.36',
    name: 'web',
    cmd: ['httpd', '-f', '-p', '80'],
    env: ['A=1'],
    ports: [port(8080, 80, TCP, '')],
    networkMode: NetworkMode.NETWORK_MODE_BRIDGE,
    resources: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pidsLimit: 100 },
    labels: { team: 'a' },
  }),
  ...c,
});

describe('psRows', () => {
  it('renders docker ps rows', () => {
    const rows = psRows([container()], { now });
    expect(rows).toEqual([
      {
        ID: 'aaaaaaaaaaaa',
        Image: 'busybox:1.36',
        Command: '"httpd -f -p 80"',
        CreatedAt: '2026-01-01T11:58:00Z',
        RunningFor: '2 minutes ago',
        Ports: '0.0.0.0:8080->80/tcp',
        State: 'running',
        Status: 'Up 3 seconds',
        Names: 'web',
        Labels: 'team=a',
        Networks: 'bridge',
      },
    ]);
    expect(formatTable(PS_HEADERS, rows.map(psCells))).toBe(
      'CONTAINER ID  IMAGE         COMMAND           CREATED        STATUS        PORTS                 NAMES\n' +
        'aaaaaaaaaaaa  busybox:1.36  "httpd -f -p 80"  2 minutes ago  Up 3 seconds  0.0.0.0:8080->80/tcp  web\n',
    );
  });

  it('keeps whole ids and commands with noTrunc', () => {
    const [row] = psRows([container({ command: ['sh', '-c', 'sleep 1000 && echo done'] })], { now, noTrunc: true });
    expect([row!.ID, row!.Command]).toEqual([ID, '"sh -c sleep 1000 && echo done"']);
  });
});

describe('inspectView', () => {
  it("is the Docker Engine API's inspect shape plus the node the container runs on", () => {
    const image = ContainerConfig.fromPartial({ user: 'www', exposedPorts: ['80/tcp', '443/tcp'], env: ['PATH=/bin'], cmd: ['serve'], workingDir: '/srv' });
    const view = inspectView(container(), image);
    expect(view).toEqual({ ...dockerInspectView(container(), image), Node: 'node-1' });
    expect(view).toMatchObject({
      Id: ID,
      Name: '/web',
      State: { Status: 'running', Running: true, StartedAt: '2026-01-01T11:59:57Z', FinishedAt: '0001-01-01T00:00:00Z' },
      HostConfig: { NetworkMode: 'bridge', PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, Memory: 67108864, NanoCpus: 500000000, PidsLimit: 100 },
      GraphDriver: { Name: 'overlayfs', Data: null },
      Config: { User: 'www', Env: ['PATH=/bin', 'A=1'], WorkingDir: '/srv', ExposedPorts: { '80/tcp': {}, '443/tcp': {} } },
      NetworkSettings: { IPAddress: '10.88.0.2', Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '443/tcp': null } },
    });
  });
});

describe('statsRows', () => {
  it('renders docker stats rows', () => {
    const rows = statsRows([
      {
        id: ID,
        name: 'web',
        cpuPercent: 12.345,
        cpuUsageNanos: 1,
        memoryUsageBytes: 1_572_864,
        memoryLimitBytes: 64 * 1024 * 1024,
        pidsCurrent: 3,
        pidsLimit: 100,
      },
      { id: ID, name: 'idle', cpuPercent: 0, cpuUsageNanos: 0, memoryUsageBytes: 0, memoryLimitBytes: 0, pidsCurrent: 0, pidsLimit: -1 },
    ]);
    expect(rows).toEqual([
      { ID: 'aaaaaaaaaaaa', Name: 'web', CPUPerc: '12.35%', MemUsage: '1.5MiB / 64MiB', MemPerc: '2.34%', PIDs: '3' },
      { ID: 'aaaaaaaaaaaa', Name: 'idle', CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', PIDs: '0' },
    ]);
    expect(formatTable(STATS_HEADERS, rows.slice(0, 1).map(statsCells))).toBe(
      'CONTAINER ID  NAME  CPU %   MEM USAGE / LIMIT  MEM %  PIDS\n' + 'aaaaaaaaaaaa  web   12.35%  1.5MiB / 64MiB     2.34%  3\n',
    );
  });
});

describe('psFields', () => {
  it("adds Docker's Mounts and Label method to a row", () => {
    const c = container({ spec: ContainerSpec.fromPartial({ labels: { tier: 'front' } }) });
    const [row] = psRows([c], { now });
    const fields = psFields(row!, c) as Record<string, unknown>;
    expect(fields).toMatchObject({ ...row, Mounts: '' });
    expect((fields['Label'] as (key: string) => string)('tier')).toBe('front');
    expect((fields['Label'] as (key: string) => string)('nope')).toBe('');
  });
  it("shows Docker's Mounts: volume names and bind sources, cut to 15 characters unless noTrunc", () => {
    const mounts = [
      { type: MountType.MOUNT_TYPE_VOLUME, source: 'a'.repeat(64), target: '/v', readOnly: false, mode: '', volumePath: '/x/_data' },
      { type: MountType.MOUNT_TYPE_BIND, source: '/srv', target: '/s', readOnly: false },
      { type: MountType.MOUNT_TYPE_TMPFS, source: '', target: '/t', readOnly: false, tmpfsOptions: '' },
    ];
    const c = container({ spec: ContainerSpec.fromPartial({ mounts }) });
    const [row] = psRows([c], { now });
    expect((psFields(row!, c) as { Mounts: string }).Mounts).toBe(`${'a'.repeat(14)}…,/srv`);
    expect((psFields(row!, c, { noTrunc: true }) as { Mounts: string }).Mounts).toBe(`${'a'.repeat(64)},/srv`);
  });
});

describe('parsePrivatePort', () => {
  it.each([
    ['80', '80/tcp'],
    ['80/tcp', '80/tcp'],
    ['53/UDP', '53/udp'],
    ['0080', '80/tcp'],
  ])('%s is %s', (text, key) => {
    expect(parsePrivatePort(text)).toBe(key);
  });

  it.each(['http', '80/icmp', '70000', '', '80/'])('refuses %j', (text) => {
    expect(() => parsePrivatePort(text)).toThrow(`invalid port ${JSON.stringify(text)}: expected PRIVATE_PORT[/PROTO], e.g. 80 or 53/udp`);
  });
});

describe('portLines', () => {
  const ports = [port(37361, 80), port(9000, 443), port(5353, 53, UDP, '127.0.0.1'), port(37362, 80, TCP, '::')];

  it('lists every published port as docker port does, naturally sorted', () => {
    expect(portLines(ports)).toEqual(['53/udp -> 127.0.0.1:5353', '80/tcp -> 0.0.0.0:37361', '80/tcp -> [::]:37362', '443/tcp -> 0.0.0.0:9000']);
  });

  it('gives the host addresses of one private port, none when it is not published', () => {
    expect(portLines(ports, '80/tcp')).toEqual(['0.0.0.0:37361', '[::]:37362']);
    expect(portLines(ports, '53/udp')).toEqual(['127.0.0.1:5353']);
    expect(portLines(ports, '53/tcp')).toEqual([]);
    expect(portLines([port(8080, 80, TCP, '')], '80/tcp')).toEqual(['0.0.0.0:8080']);
  });
});
