import type { Container, ContainerStats, PortMapping } from '@strata/api/containers/v1';
import type { ContainerConfig } from '@strata/api/images/v1';
import { inspectView as dockerInspectView, mountPointsView, networkName, protocolName, SHORT_ID_LENGTH, stateName, statusText } from '@strata/docker-api/views';
import { invalidArgument } from '@strata/kit';
import { binarySize, ellipsis, rfc3339, timeAgo } from '../framework/human-units.js';

/** Width `docker ps` cuts COMMAND to without --no-trunc. */
export const COMMAND_WIDTH = 20;

/** `0.0.0.0` for the empty (every address) host IP. */
const hostIpOf = (p: PortMapping) => (p.hostIp === '' ? '0.0.0.0' : p.hostIp);

/** Go's net.JoinHostPort: IPv6 addresses in brackets. */
const joinHostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * The PORTS column of `docker ps` (Docker's DisplayablePorts): sorted by
 * container port, `0.0.0.0:8080->80/tcp` for a mapping to another port,
 * runs of equal host and container ports folded into ranges
 * (`0.0.0.0:8000-8001->8000-8001/tcp`), joined by `, `.
 */
export function portsText(ports: readonly PortMapping[]): string {
  const sorted = [...ports].sort(
    (a, b) =>
      a.containerPort - b.containerPort ||
      hostIpOf(a).localeCompare(hostIpOf(b)) ||
      a.hostPort - b.hostPort ||
      protocolName(a.protocol).localeCompare(protocolName(b.protocol)),
  );
  const groups = new Map<string, { first: number; last: number }>();
  const order: string[] = [];
  const result: string[] = [];
  const mappings: string[] = [];
  const form = (key: string, first: number, last: number) => {
    const slash = key.lastIndexOf('/');
    const ip = key.slice(0, slash);
    const range = first === last ? `${first}` : `${first}-${last}`;
    return `${ip.includes(':') ? `[${ip}]` : ip}:${range}->${range}/${key.slice(slash + 1)}`;
  };
  for (const p of sorted) {
    const ip = hostIpOf(p);
    const proto = protocolName(p.protocol);
    if (p.hostPort !== p.containerPort) {
      mappings.push(`${joinHostPort(ip, p.hostPort)}->${p.containerPort}/${proto}`);
      continue;
    }
    const key = `${ip}/${proto}`;
    const group = groups.get(key);
    if (group === undefined) {
      groups.set(key, { first: p.containerPort, last: p.containerPort });
      order.push(key);
    } else if (p.containerPort === group.last + 1) {
      group.last = p.containerPort;
    } else {
      result.push(form(key, group.first, group.last));
      groups.set(key, { first: p.containerPort, last: p.containerPort });
    }
  }
  for (const key of order) {
    const g = groups.get(key)!;
    result.push(form(key, g.first, g.last));
  }
  return [...result, ...mappings].join(', ');
}

/** The COMMAND column of `docker ps`: the command line quoted, cut to 20 characters unless noTrunc. */
export function commandText(command: readonly string[], noTrunc = false): string {
  const line = command.join(' ');
  return JSON.stringify(noTrunc ? line : ellipsis(line, COMMAND_WIDTH));
}

/** A container id as `ps` shows it: 12 hex digits unless noTrunc. */
export function containerIdText(id: string, noTrunc = false): string {
  return noTrunc ? id : id.slice(0, SHORT_ID_LENGTH);
}

/** One row of `strata ps`, keyed as `docker ps --format json`. */
export interface PsRow {
  ID: string;
  Image: string;
  Command: string;
  /** RFC 3339; empty when unknown. */
  CreatedAt: string;
  /** `2 minutes ago`. */
  RunningFor: string;
  Ports: string;
  /** `running`, `exited`… */
  State: string;
  /** `Up 3 seconds`, `Exited (0) 2 minutes ago`… */
  Status: string;
  Names: string;
  /** `k=v,k2=v2`. */
  Labels: string;
  Networks: string;
}

/** The rows of `docker ps` for containers, in the order given (the agent lists newest first). */
export function psRows(containers: readonly Container[], options: { noTrunc?: boolean; now?: Date } = {}): PsRow[] {
  const { noTrunc = false, now = new Date() } = options;
  return containers.map((c) => ({
    ID: containerIdText(c.id, noTrunc),
    Image: c.image,
    Command: commandText(c.command, noTrunc),
    CreatedAt: c.created === undefined ? '' : rfc3339(c.created),
    RunningFor: timeAgo(c.created, now),
    Ports: portsText(c.network?.ports ?? []),
    State: stateName(c.state?.status),
    Status: statusText(c.state, now),
    Names: c.name,
    Labels: Object.entries(c.spec?.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Networks: networkName(c.network?.mode ?? c.spec?.networkMode),
  }));
}

/** The headers of `strata ps`, in column order. */
export const PS_HEADERS = ['container id', 'image', 'command', 'created', 'status', 'ports', 'names'] as const;

/** The cells of a {@link PsRow} under {@link PS_HEADERS}. */
export function psCells(row: PsRow): string[] {
  return [row.ID, row.Image, row.Command, row.RunningFor, row.Status, row.Ports, row.Names];
}

/** Docker's headers of the fields a `ps --format 'table TEMPLATE'` names. */
export const PS_FIELD_HEADERS: Readonly<Record<string, string>> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  Node: 'NODE',
};

/** Width `docker ps` cuts each name of its Mounts field to without --no-trunc. */
const MOUNT_NAME_WIDTH = 15;

/**
 * Docker's `ps` Mounts field: each volume's name or bind's source (a
 * `--tmpfs` is not listed), cut to 15 characters unless noTrunc, joined by
 * commas.
 */
export function mountsText(container: Container, noTrunc = false): string {
  return mountPointsView(container.spec?.mounts ?? [])
    .map((m) => m.Name ?? m.Source)
    .map((name) => (noTrunc ? name : ellipsis(name, MOUNT_NAME_WIDTH)))
    .join(',');
}

/**
 * What a `ps --format` template sees for container's row: the row's fields,
 * `Mounts` (see mountsText) and, as Docker's, the method `Label "KEY"`:
 * that label's value, or empty.
 */
export function psFields(row: PsRow, container: Container, options: { noTrunc?: boolean } = {}): object {
  const labels = container.spec?.labels ?? {};
  return { ...row, Mounts: mountsText(container, options.noTrunc), Label: (key: unknown) => labels[String(key)] ?? '' };
}

/**
 * A container as `strata inspect` shows it: the Docker Engine API's inspect
 * shape (`docker inspect`; see @strata/docker-api's inspectView, with the
 * image's config merged when given) plus `Node`, the node it runs on.
 */
export function inspectView(container: Container, image?: ContainerConfig): Record<string, unknown> {
  return { ...dockerInspectView(container, image), Node: container.node };
}

/** One row of `strata stats`, keyed as `docker stats --format json`. */
export interface StatsRow {
  ID: string;
  Name: string;
  /** `12.34%`. */
  CPUPerc: string;
  /** `1.5MiB / 1.944GiB`. */
  MemUsage: string;
  /** `0.08%`. */
  MemPerc: string;
  PIDs: string;
}

const percent = (value: number) => `${(Number.isFinite(value) ? value : 0).toFixed(2)}%`;

/** The rows of `docker stats` for one sample. */
export function statsRows(stats: readonly ContainerStats[], options: { noTrunc?: boolean } = {}): StatsRow[] {
  return stats.map((s) => ({
    ID: containerIdText(s.id, options.noTrunc),
    Name: s.name,
    CPUPerc: percent(s.cpuPercent),
    MemUsage: `${binarySize(s.memoryUsageBytes)} / ${binarySize(s.memoryLimitBytes)}`,
    MemPerc: percent(s.memoryLimitBytes > 0 ? (s.memoryUsageBytes / s.memoryLimitBytes) * 100 : 0),
    PIDs: String(s.pidsCurrent),
  }));
}

/** The headers of `strata stats`, in column order. */
export const STATS_HEADERS = ['container id', 'name', 'cpu %', 'mem usage / limit', 'mem %', 'pids'] as const;

/** Docker's headers of the fields a `stats --format 'table TEMPLATE'` names. */
export const STATS_FIELD_HEADERS: Readonly<Record<string, string>> = {
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  PIDs: 'PIDS',
};

/** The cells of a {@link StatsRow} under {@link STATS_HEADERS}. */
export function statsCells(row: StatsRow): string[] {
  return [row.ID, row.Name, row.CPUPerc, row.MemUsage, row.MemPerc, row.PIDs];
}

/** Go's sort.NaturalLess order: runs of digits compare as numbers, the rest character by character. */
function naturalCompare(a: string, b: string): number {
  const parts = (text: string) => text.match(/\d+|\D+/g) ?? [];
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const [x, y] = [pa[i]!, pb[i]!];
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    const order = numeric ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
    if (order !== 0) return order;
  }
  return pa.length - pb.length;
}

/**
 * A private port of `docker port` (`80`, `80/tcp`, `53/udp`) as its key in
 * NetworkSettings.Ports (`80/tcp`: tcp when no protocol is given). Raises
 * InvalidArgument for anything else.
 */
export function parsePrivatePort(text: string): string {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(text);
  if (m === null || Number(m[1]) > 65535) throw invalidArgument(`invalid port ${JSON.stringify(text)}: expected PRIVATE_PORT[/PROTO], e.g. 80 or 53/udp`);
  return `${Number(m[1])}/${(m[2] ?? 'tcp').toLowerCase()}`;
}

/**
 * The lines of `docker port`, naturally sorted as Docker sorts them:
 * `80/tcp -> 0.0.0.0:37361` for each published port, or with privatePort
 * (a key from {@link parsePrivatePort}) only its host addresses
 * (`0.0.0.0:37361`), none when it is not published.
 */
export function portLines(ports: readonly PortMapping[], privatePort?: string): string[] {
  const lines: string[] = [];
  for (const p of ports) {
    const key = `${p.containerPort}/${protocolName(p.protocol)}`;
    const address = joinHostPort(hostIpOf(p), p.hostPort);
    if (privatePort === undefined) lines.push(`${key} -> ${address}`);
    else if (key === privatePort) lines.push(address);
  }
  return lines.sort(naturalCompare);
}
