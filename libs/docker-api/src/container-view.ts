import { ContainerStatus, NetworkMode, Protocol, type Container, type ContainerState, type PortMapping } from '@strata/api/containers/v1';
import type { ContainerConfig } from '@strata/api/images/v1';
import { healthSuffix } from '@strata/containers';
import { humanDuration, rfc3339 } from './human-time.js';
import { restartPolicyView } from './restart-views.js';
import { hostConfigMounts, mountPointsView } from './mount-views.js';

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
  [ContainerStatus.CONTAINER_STATUS_RESTARTING]: 'restarting',
  [ContainerStatus.UNRECOGNIZED]: 'unknown',
};

/** The state as Docker names it in `State.Status` and list's `State`: `created`, `running`, `exited`… */
export function stateName(status: ContainerStatus | undefined): string {
  return STATE_NAMES[status ?? ContainerStatus.CONTAINER_STATUS_UNSPECIFIED] ?? 'unknown';
}

/** True while the container's process runs (paused included), as Docker's `State.Running`. */
export function isRunning(state: ContainerState | undefined): boolean {
  return state?.status === ContainerStatus.CONTAINER_STATUS_RUNNING || state?.status === ContainerStatus.CONTAINER_STATUS_PAUSED;
}

/**
 * The status text of `docker ps` (the API list's `Status`): `Created`,
 * `Up 3 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 2 minutes ago`,
 * `Restarting (1) 2 seconds ago`, `Removal In Progress`, `Dead`; empty for an exited container without a
 * finish time.
 */
export function statusText(state: ContainerState | undefined, now: Date = new Date()): string {
  const since = (time: Date | undefined) => humanDuration(time === undefined ? 0 : now.getTime() - time.getTime());
  switch (state?.status) {
    case ContainerStatus.CONTAINER_STATUS_RUNNING:
      return `Up ${since(state.startedAt)}${healthSuffix(state.health?.status)}`;
    case ContainerStatus.CONTAINER_STATUS_PAUSED:
      return `Up ${since(state.startedAt)} (Paused)`;
    case ContainerStatus.CONTAINER_STATUS_REMOVING:
      return 'Removal In Progress';
    case ContainerStatus.CONTAINER_STATUS_DEAD:
      return 'Dead';
    case ContainerStatus.CONTAINER_STATUS_RESTARTING:
      return `Restarting (${state.exitCode}) ${since(state.finishedAt)} ago`;
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

/** `0.0.0.0` for the empty (every address) host IP. */
const hostIpOf = (p: PortMapping) => (p.hostIp === '' ? '0.0.0.0' : p.hostIp);

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

/** The container ports of image and spec as `{"80/tcp": {}}`. */
function exposedPorts(container: Container, image: ContainerConfig | undefined): Record<string, object> {
  const exposed: Record<string, object> = {};
  for (const p of image?.exposedPorts ?? []) exposed[p.includes('/') ? p : `${p}/tcp`] = {};
  for (const p of container.spec?.ports ?? []) exposed[portKey(p)] = {};
  return exposed;
}

function bridgeNetwork(container: Container): Record<string, unknown> {
  const network = container.network;
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    NetworkID: 'bridge',
    EndpointID: '',
    Gateway: network?.gateway ?? '',
    IPAddress: network?.ipAddress ?? '',
    IPPrefixLen: network?.prefixLength ?? 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    MacAddress: '',
    DriverOpts: null,
  };
}

/**
 * A container as `docker inspect` and the Engine API's
 * `GET /containers/{id}/json` show it. Config merges the image's config when
 * it is given (Env, Cmd, Entrypoint, WorkingDir, User, Labels,
 * ExposedPorts, StopSignal, as Docker records them at create); without it
 * Config holds only what the container was created with. Times that never
 * happened are Go's zero time; `Name` starts with `/`;
 * NetworkSettings.Ports lists every exposed port, with its host bindings
 * or null. No `Node` field: Docker clients read it as a swarm node object
 * (the `strata` CLI adds the node name itself).
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
  const exposed = exposedPorts(container, image);
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
  const network = networkName(container.network?.mode ?? spec?.networkMode);
  const cpus = resources?.cpus ?? 0;
  return {
    Id: container.id,
    Created: timeText(container.created),
    Path: container.command[0] ?? '',
    Args: container.command.slice(1),
    State: {
      Status: stateName(status),
      // Docker's restarting container is still Running (its restart manager runs it).
      Running: isRunning(state) || status === ContainerStatus.CONTAINER_STATUS_RESTARTING,
      Paused: status === ContainerStatus.CONTAINER_STATUS_PAUSED,
      Restarting: status === ContainerStatus.CONTAINER_STATUS_RESTARTING,
      OOMKilled: state?.oomKilled ?? false,
      Dead: status === ContainerStatus.CONTAINER_STATUS_DEAD,
      Pid: state?.pid ?? 0,
      ExitCode: state?.exitCode ?? 0,
      Error: state?.error ?? '',
      StartedAt: timeText(state?.startedAt),
      FinishedAt: timeText(state?.finishedAt),
      ...(state?.health === undefined
        ? {}
        : {
            Health: {
              Status: state.health.status,
              FailingStreak: state.health.failingStreak,
              Log: state.health.log.map((p) => ({ Start: timeText(p.start), End: timeText(p.end), ExitCode: p.exitCode, Output: p.output })),
            },
          }),
    },
    Image: container.imageId,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath: container.logPath,
    Name: `/${container.name}`,
    RestartCount: container.restartCount,
    Driver: 'overlayfs',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      ...hostConfigMounts(spec?.mounts ?? []),
      NetworkMode: network,
      PortBindings: bindings,
      RestartPolicy: restartPolicyView(spec?.restartPolicy),
      AutoRemove: spec?.autoRemove ?? false,
      LogConfig: { Type: 'json-file', Config: {} },
      Privileged: false,
      PublishAllPorts: false,
      ReadonlyRootfs: spec?.readOnly === true,
      ExtraHosts: spec === undefined || spec.extraHosts.length === 0 ? null : [...spec.extraHosts],
      Dns: [...(spec?.dns ?? [])],
      DnsSearch: [...(spec?.dnsSearch ?? [])],
      DnsOptions: [...(spec?.dnsOptions ?? [])],
      Ulimits: spec === undefined || spec.ulimits.length === 0 ? null : spec.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      ShmSize: spec?.shmSizeBytes || 64 * 1024 * 1024,
      CapAdd: spec === undefined || spec.capAdd.length === 0 ? null : [...spec.capAdd],
      CapDrop: spec === undefined || spec.capDrop.length === 0 ? null : [...spec.capDrop],
      SecurityOpt: spec === undefined || spec.securityOpt.length === 0 ? null : [...spec.securityOpt],
      Memory: resources?.memoryBytes ?? 0,
      NanoCpus: Math.round(cpus * 1e9),
      CpuPeriod: 0,
      CpuQuota: 0,
      PidsLimit: resources === undefined || resources.pidsLimit === 0 ? null : resources.pidsLimit,
      CpuShares: resources?.cpuShares ?? 0,
      CpusetCpus: resources?.cpusetCpus ?? '',
      CpusetMems: resources?.cpusetMems ?? '',
      UsernsMode: spec?.userNamespace ? 'private' : '',
    },
    GraphDriver: { Name: 'overlayfs', Data: null },
    Mounts: mountPointsView(spec?.mounts ?? []),
    Config: {
      Hostname: spec?.hostname || container.id.slice(0, SHORT_ID_LENGTH),
      Domainname: '',
      User: spec?.user || image?.user || '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
      Tty: spec?.tty ?? false,
      OpenStdin: spec?.openStdin ?? false,
      StdinOnce: false,
      Env: mergeEnv(image?.env ?? [], spec?.env ?? []),
      Cmd: cmd.length > 0 ? cmd : null,
      Image: container.image,
      Volumes: null,
      WorkingDir: spec?.workingDir || image?.workingDir || '',
      Entrypoint: entrypoint.length > 0 ? entrypoint : null,
      OnBuild: null,
      Labels: { ...(image?.labels ?? {}), ...(spec?.labels ?? {}) },
      ...(stopSignal === '' ? {} : { StopSignal: stopSignal }),
      ...(spec?.stopTimeoutSeconds ? { StopTimeout: spec.stopTimeoutSeconds } : {}),
      ...(container.healthcheck === undefined
        ? {}
        : {
            Healthcheck: {
              Test: [...container.healthcheck.test],
              Interval: container.healthcheck.intervalNanos,
              Timeout: container.healthcheck.timeoutNanos,
              StartPeriod: container.healthcheck.startPeriodNanos,
              StartInterval: container.healthcheck.startIntervalNanos,
              Retries: container.healthcheck.retries,
            },
          }),
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: published,
      SandboxKey: '',
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: '',
      Gateway: container.network?.gateway ?? '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: container.network?.ipAddress ?? '',
      IPPrefixLen: container.network?.prefixLength ?? 0,
      IPv6Gateway: '',
      MacAddress: '',
      Networks: network === 'bridge' ? { bridge: bridgeNetwork(container) } : { [network]: { ...bridgeNetwork(container), NetworkID: network } },
    },
  };
}

/** A published or exposed port as the Engine API's container list shows it. */
export interface ListPort {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

/**
 * A container as an entry of the Engine API's `GET /containers/json`:
 * `Names` with a leading `/`, `Created` in Unix seconds, `Command` the
 * command line, `Ports` the published ports (host address and port) and
 * the exposed ones without, `State` and `Status` as `docker ps` shows them.
 */
export function listView(container: Container, now: Date = new Date()): Record<string, unknown> {
  const ports: ListPort[] = (container.network?.ports ?? []).map((p) => ({
    IP: hostIpOf(p),
    PrivatePort: p.containerPort,
    PublicPort: p.hostPort,
    Type: protocolName(p.protocol),
  }));
  const network = networkName(container.network?.mode ?? container.spec?.networkMode);
  return {
    Id: container.id,
    Names: [`/${container.name}`],
    Image: container.image,
    ImageID: container.imageId,
    Command: container.command.join(' '),
    Created: Math.floor((container.created?.getTime() ?? 0) / 1000),
    Ports: ports,
    Labels: { ...(container.spec?.labels ?? {}) },
    State: stateName(container.state?.status),
    Status: statusText(container.state, now),
    HostConfig: { NetworkMode: network },
    NetworkSettings: { Networks: { [network]: bridgeNetwork(container) } },
    Mounts: mountPointsView(container.spec?.mounts ?? []),
  };
}
