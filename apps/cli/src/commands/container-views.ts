import {
  ContainerStatus,
  NetworkMode,
  Protocol,
  type Container,
  type ContainerState,
  type ContainerStats,
  type PortMapping,
} from '@strata/api/containers/v1';
import type { ContainerConfig } from '@strata/api/images/v1';
import { binarySize, ellipsis, humanDuration, rfc3339, timeAgo } from '../framework/human-units.js';

/** Width `docker ps` cuts COMMAND to without --no-trunc. */
export const COMMAND_WIDTH = 20;
/** Hex digits of a short container id. */
export const SHORT_ID_LENGTH = 12;
/** How Go writes its zero time, which Docker shows for times that never happened. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

const STATE_NAMES: Record<ContainerStatus, string> = {
  [ContainerStatus.CONTAINER_STATUS_UNSPECIFIED]: 'unknown',
  [ContainerStatus.CONTAINER_STATUS_CREATED]: 'created',
  [ContainerStatus.CONTAINER_STATUS_RUNNING]: 'running',
  [ContainerStatus.CONTAINER_STATUS_PAUSED]: 'paused',
  [ContainerStatus.CONTAINER_STATUS_EXITED]: 'exited',
  [ContainerStatus.CONTAINER_STATUS_REMOVING]: 'removing',
  [ContainerStatus.CONTAINER_STATUS_DEAD]: 'dead',
  [ContainerStatus.UNRECOGNIZED]: 'unknown',
};

/** The state as Docker names it in `State.Status` and `ps --format json`: `created`, `running`, `exited`… */
export function stateName(status: ContainerStatus | undefined): string {
  return STATE_NAMES[status ?? ContainerStatus.CONTAINER_STATUS_UNSPECIFIED] ?? 'unknown';
}

/**
 * The STATUS column of `docker ps`: `Created`, `Up 3 seconds`,
 * `Up 2 minutes (Paused)`, `Exited (0) 2 minutes ago`, `Removal In
 * Progress`, `Dead`; empty for an exited container without a finish time.
 */
export function statusText(state: ContainerState | undefined, now: Date = new Date()): string {
  const since = (time: Date | undefined) => humanDuration(time === undefined ? 0 : now.getTime() - time.getTime());
  switch (state?.status) {
    case ContainerStatus.CONTAINER_STATUS_RUNNING:
      return `Up ${since(state.startedAt)}`;
    case ContainerStatus.CONTAINER_STATUS_PAUSED:
      return `Up ${since(state.startedAt)} (Paused)`;
    case ContainerStatus.CONTAINER_STATUS_REMOVING:
      return 'Removal In Progress';
    case ContainerStatus.CONTAINER_STATUS_DEAD:
      return 'Dead';
    case ContainerStatus.CONTAINER_STATUS_EXITED:
      if (state.startedAt === undefined) return 'Created';
      return state.finishedAt === undefined ? '' : `Exited (${state.exitCode}) ${since(state.finishedAt)} ago`;
    default:
      return 'Created';
  }
}

/** `tcp` or `udp`. */
export function protocolName(protocol: Protocol): 'tcp' | 'udp' {
  return protocol === Protocol.PROTOCOL_UDP ? 'udp' : 'tcp';
}

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

const NETWORK_NAMES: Record<number, string> = {
  [NetworkMode.NETWORK_MODE_UNSPECIFIED]: 'bridge',
  [NetworkMode.NETWORK_MODE_BRIDGE]: 'bridge',
  [NetworkMode.NETWORK_MODE_NONE]: 'none',
  [NetworkMode.NETWORK_MODE_HOST]: 'host',
};

/** `bridge`, `none` or `host`. */
export function networkName(mode: NetworkMode | undefined): string {
  return NETWORK_NAMES[mode ?? NetworkMode.NETWORK_MODE_UNSPECIFIED] ?? 'bridge';
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

const timeText = (time: Date | undefined) => (time === undefined ? ZERO_TIME : rfc3339(time));

/** `80/tcp`. */
const portKey = (p: PortMapping) => `${p.containerPort}/${protocolName(p.protocol)}`;

/** Docker's env merge: entries of over replace those of base with the same name; a bare `KEY` removes it. */
function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const merged = new Map<string, string>();
  const nameOf = (entry: string) => (entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : entry);
  for (const entry of base) merged.set(nameOf(entry), entry);
  for (const entry of over) {
    if (entry.includes('=')) merged.set(nameOf(entry), entry);
    else merged.delete(entry);
  }
  return [...merged.values()];
}

/**
 * A container as `docker inspect` shows it. Config merges the image's
 * config when it is given (Env, Cmd, Entrypoint, WorkingDir, User,
 * Labels, ExposedPorts, StopSignal, as Docker records them at create);
 * without it Config holds only what the container was created with.
 * Times that never happened are Go's zero time; `Name` starts with `/`.
 */
export function inspectView(container: Container, image?: ContainerConfig): Record<string, unknown> {
  const spec = container.spec;
  const state = container.state;
  const status = state?.status ?? ContainerStatus.CONTAINER_STATUS_UNSPECIFIED;
  const resources = spec?.resources;
  const specCmd = spec?.cmd ?? [];
  const entrypointSet = spec?.entrypointSet === true;
  const cmd = specCmd.length > 0 ? specCmd : entrypointSet ? [] : (image?.cmd ?? []);
  const entrypoint = entrypointSet ? (spec?.entrypoint ?? []) : (image?.entrypoint ?? []);
  const exposed: Record<string, object> = {};
  for (const p of image?.exposedPorts ?? []) exposed[p.includes('/') ? p : `${p}/tcp`] = {};
  for (const p of spec?.ports ?? []) exposed[portKey(p)] = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of spec?.ports ?? []) {
    (bindings[portKey(p)] ??= []).push({ HostIp: p.hostIp, HostPort: p.hostPort === 0 ? '' : String(p.hostPort) });
  }
  const published: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const key of Object.keys(exposed)) published[key] = null;
  for (const p of container.network?.ports ?? []) {
    (published[portKey(p)] ??= []).push({ HostIp: hostIpOf(p), HostPort: String(p.hostPort) });
  }
  const stopSignal = spec?.stopSignal || image?.stopSignal || '';
  return {
    Id: container.id,
    Created: timeText(container.created),
    Path: container.command[0] ?? '',
    Args: container.command.slice(1),
    State: {
      Status: stateName(status),
      Running: status === ContainerStatus.CONTAINER_STATUS_RUNNING || status === ContainerStatus.CONTAINER_STATUS_PAUSED,
      Paused: status === ContainerStatus.CONTAINER_STATUS_PAUSED,
      Restarting: false,
      OOMKilled: state?.oomKilled ?? false,
      Dead: status === ContainerStatus.CONTAINER_STATUS_DEAD,
      Pid: state?.pid ?? 0,
      ExitCode: state?.exitCode ?? 0,
      Error: state?.error ?? '',
      StartedAt: timeText(state?.startedAt),
      FinishedAt: timeText(state?.finishedAt),
    },
    Image: container.imageId,
    LogPath: container.logPath,
    Name: `/${container.name}`,
    RestartCount: container.restartCount,
    Node: container.node,
    Platform: 'linux',
    HostConfig: {
      NetworkMode: networkName(spec?.networkMode),
      PortBindings: bindings,
      AutoRemove: spec?.autoRemove ?? false,
      Memory: resources?.memoryBytes ?? 0,
      NanoCpus: Math.round((resources?.cpus ?? 0) * 1e9),
      PidsLimit: resources === undefined || resources.pidsLimit === 0 ? null : resources.pidsLimit,
    },
    Config: {
      Hostname: spec?.hostname || container.id.slice(0, SHORT_ID_LENGTH),
      Domainname: '',
      User: spec?.user || image?.user || '',
      Tty: spec?.tty ?? false,
      OpenStdin: spec?.openStdin ?? false,
      StdinOnce: false,
      ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
      Env: mergeEnv(image?.env ?? [], spec?.env ?? []),
      Cmd: cmd.length > 0 ? cmd : null,
      Image: container.image,
      WorkingDir: spec?.workingDir || image?.workingDir || '',
      Entrypoint: entrypoint.length > 0 ? entrypoint : null,
      Labels: { ...(image?.labels ?? {}), ...(spec?.labels ?? {}) },
      ...(stopSignal === '' ? {} : { StopSignal: stopSignal }),
      ...(spec?.stopTimeoutSeconds ? { StopTimeout: spec.stopTimeoutSeconds } : {}),
    },
    NetworkSettings: {
      IPAddress: container.network?.ipAddress ?? '',
      Gateway: container.network?.gateway ?? '',
      IPPrefixLen: container.network?.prefixLength ?? 0,
      Ports: published,
    },
  };
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

/** The cells of a {@link StatsRow} under {@link STATS_HEADERS}. */
export function statsCells(row: StatsRow): string[] {
  return [row.ID, row.Name, row.CPUPerc, row.MemUsage, row.MemPerc, row.PIDs];
}
