import {
  ContainerStatus as ProtoStatus,
  NetworkMode as ProtoNetworkMode,
  Protocol as ProtoProtocol,
  type Container,
  type ContainerSpec as ProtoSpec,
  type Mount as ProtoMount,
  type PathStat as ProtoPathStat,
  type PortMapping,
  type Resources as ProtoResources,
} from '@strata/api/containers/v1';
import type { ContainerRecord, ContainerSpec, ContainerStatus, MountSpec, MountType, NetworkMode, PortSpec, ResourceSpec } from '@strata/containers';
import { healthFromWire, healthToWire, mountToWire, mountTypeName, restartPolicyFromWire, restartPolicyToWire } from '@strata/docker-api/views';
import { invalidArgument } from '@strata/kit';
import type { PathStat } from '@strata/layer-diff';

const STATUS: Record<ContainerStatus, ProtoStatus> = {
  created: ProtoStatus.CONTAINER_STATUS_CREATED,
  running: ProtoStatus.CONTAINER_STATUS_RUNNING,
  paused: ProtoStatus.CONTAINER_STATUS_PAUSED,
  exited: ProtoStatus.CONTAINER_STATUS_EXITED,
  removing: ProtoStatus.CONTAINER_STATUS_REMOVING,
  dead: ProtoStatus.CONTAINER_STATUS_DEAD,
  restarting: ProtoStatus.CONTAINER_STATUS_RESTARTING,
};

const MODE: Record<NetworkMode, ProtoNetworkMode> = {
  bridge: ProtoNetworkMode.NETWORK_MODE_BRIDGE,
  none: ProtoNetworkMode.NETWORK_MODE_NONE,
  host: ProtoNetworkMode.NETWORK_MODE_HOST,
};

function modeFromProto(mode: ProtoNetworkMode): NetworkMode {
  switch (mode) {
    case ProtoNetworkMode.NETWORK_MODE_UNSPECIFIED:
    case ProtoNetworkMode.NETWORK_MODE_BRIDGE:
      return 'bridge';
    case ProtoNetworkMode.NETWORK_MODE_NONE:
      return 'none';
    case ProtoNetworkMode.NETWORK_MODE_HOST:
      return 'host';
    default:
      throw invalidArgument(`unknown network mode ${String(mode)}: use bridge, none or host`);
  }
}

function portFromProto(p: PortMapping): PortSpec {
  let protocol: PortSpec['protocol'];
  if (p.protocol === ProtoProtocol.PROTOCOL_UNSPECIFIED || p.protocol === ProtoProtocol.PROTOCOL_TCP) protocol = 'tcp';
  else if (p.protocol === ProtoProtocol.PROTOCOL_UDP) protocol = 'udp';
  else throw invalidArgument(`unknown port protocol ${String(p.protocol)}: use tcp or udp`);
  return { hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol };
}

function portToProto(p: PortSpec): PortMapping {
  return {
    hostIp: p.hostIp,
    hostPort: p.hostPort,
    containerPort: p.containerPort,
    protocol: p.protocol === 'udp' ? ProtoProtocol.PROTOCOL_UDP : ProtoProtocol.PROTOCOL_TCP,
  };
}

const opt = <K extends string, V>(key: K, value: V | undefined | '' | 0): Partial<Record<K, V>> =>
  value === undefined || value === '' || value === 0 ? {} : ({ [key]: value } as Record<K, V>);

function mountFromProto(m: ProtoMount): MountSpec {
  const type = mountTypeName(m.type);
  if (type === '') throw invalidArgument(`unknown mount type ${String(m.type)} for ${m.target}: use bind, volume or tmpfs`);
  return {
    type: type as MountType,
    source: m.source,
    target: m.target,
    readOnly: m.readOnly,
    ...(m.mode === undefined ? {} : { mode: m.mode }),
    ...(m.createMountpoint ? { createMountpoint: true } : {}),
    ...opt('tmpfsSizeBytes', m.tmpfsSizeBytes),
    ...opt('tmpfsMode', m.tmpfsMode),
    ...(m.tmpfsOptions === undefined ? {} : { tmpfsOptions: m.tmpfsOptions }),
  };
}

/**
 * The domain spec of a CreateRequest's spec. InvalidArgument when it is
 * missing, has no image, or names an unknown network mode, protocol or
 * mount type.
 */
/** A path's stat as the API sends it. */
export function pathStatToProto(stat: PathStat): ProtoPathStat {
  return { name: stat.name, size: stat.size, mode: stat.mode, mtime: stat.mtime, linkTarget: stat.linkTarget };
}

/** The API's Resources as a ResourceSpec: zero and empty fields are unset. */
export function resourcesFromProto(r: ProtoResources | undefined): ResourceSpec {
  return {
    ...opt('memoryBytes', r?.memoryBytes),
    ...opt('cpus', r?.cpus),
    ...opt('pidsLimit', r?.pidsLimit),
    ...opt('cpuShares', r?.cpuShares),
    ...opt('cpusetCpus', r?.cpusetCpus),
    ...opt('cpusetMems', r?.cpusetMems),
  };
}

export function specFromProto(spec: ProtoSpec | undefined): ContainerSpec & { name?: string } {
  if (spec === undefined) throw invalidArgument('the container spec is missing');
  if (spec.image === '') throw invalidArgument('an image is required');
  const r = spec.resources;
  return {
    image: spec.image,
    ...opt('name', spec.name),
    cmd: [...spec.cmd],
    ...(spec.entrypointSet ? { entrypoint: [...spec.entrypoint] } : {}),
    env: [...spec.env],
    ...opt('workingDir', spec.workingDir),
    ...opt('user', spec.user),
    tty: spec.tty,
    openStdin: spec.openStdin,
    ...opt('hostname', spec.hostname),
    ports: spec.ports.map(portFromProto),
    networkMode: modeFromProto(spec.networkMode),
    resources: resourcesFromProto(r),
    autoRemove: spec.autoRemove,
    ...(spec.restartPolicy === undefined ? {} : { restartPolicy: restartPolicyFromWire(spec.restartPolicy) }),
    labels: { ...spec.labels },
    ...opt('stopSignal', spec.stopSignal),
    ...opt('stopTimeoutSeconds', spec.stopTimeoutSeconds),
    ...opt('platform', spec.platform),
    userNamespace: spec.userNamespace,
    mounts: spec.mounts.map(mountFromProto),
    ...(spec.readOnly ? { readOnly: true } : {}),
    ...(spec.extraHosts.length === 0 ? {} : { extraHosts: [...spec.extraHosts] }),
    ...(spec.dns.length + spec.dnsSearch.length + spec.dnsOptions.length === 0
      ? {}
      : { dns: { servers: [...spec.dns], search: [...spec.dnsSearch], options: [...spec.dnsOptions] } }),
    ...(spec.ulimits.length === 0 ? {} : { ulimits: spec.ulimits.map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })) }),
    ...opt('shmSizeBytes', spec.shmSizeBytes),
    ...(spec.capAdd.length === 0 ? {} : { capAdd: [...spec.capAdd] }),
    ...(spec.capDrop.length === 0 ? {} : { capDrop: [...spec.capDrop] }),
    ...(spec.securityOpt.length === 0 ? {} : { securityOpt: [...spec.securityOpt] }),
    ...(spec.health === undefined ? {} : { health: healthFromWire(spec.health) }),
  };
}

function specToProto(record: ContainerRecord): ProtoSpec {
  const s = record.spec;
  return {
    image: s.image,
    name: record.name,
    cmd: [...s.cmd],
    entrypoint: [...(s.entrypoint ?? [])],
    entrypointSet: s.entrypoint !== undefined,
    env: [...s.env],
    workingDir: s.workingDir ?? '',
    user: s.user ?? '',
    tty: s.tty,
    openStdin: s.openStdin,
    hostname: s.hostname ?? '',
    ports: s.ports.map(portToProto),
    networkMode: MODE[s.networkMode],
    resources: {
      memoryBytes: s.resources.memoryBytes ?? 0,
      cpus: s.resources.cpus ?? 0,
      pidsLimit: s.resources.pidsLimit ?? 0,
      cpuShares: s.resources.cpuShares ?? 0,
      cpusetCpus: s.resources.cpusetCpus ?? '',
      cpusetMems: s.resources.cpusetMems ?? '',
    },
    autoRemove: s.autoRemove,
    ...(s.restartPolicy === undefined ? {} : { restartPolicy: restartPolicyToWire(s.restartPolicy) }),
    labels: { ...s.labels },
    stopSignal: s.stopSignal ?? '',
    stopTimeoutSeconds: s.stopTimeoutSeconds ?? 0,
    platform: s.platform ?? '',
    userNamespace: s.userNamespace,
    mounts: s.mounts.map(mountToWire),
    readOnly: s.readOnly === true,
    extraHosts: [...(s.extraHosts ?? [])],
    dns: [...(s.dns?.servers ?? [])],
    dnsSearch: [...(s.dns?.search ?? [])],
    dnsOptions: [...(s.dns?.options ?? [])],
    ulimits: (s.ulimits ?? []).map((u) => ({ ...u })),
    shmSizeBytes: s.shmSizeBytes ?? 0,
    capAdd: [...(s.capAdd ?? [])],
    capDrop: [...(s.capDrop ?? [])],
    securityOpt: [...(s.securityOpt ?? [])],
    ...(s.health === undefined ? {} : { health: healthToWire(s.health) }),
  };
}

const date = (iso: string | undefined) => (iso === undefined ? undefined : new Date(iso));

/** The wire form of a record, as Inspect and List return it. */
export function containerToProto(record: ContainerRecord): Container {
  const st = record.state;
  const net = record.network;
  return {
    id: record.id,
    name: record.name,
    image: record.image,
    imageId: record.imageId,
    created: new Date(record.created),
    spec: specToProto(record),
    state: {
      status: STATUS[st.status],
      pid: st.pid,
      exitCode: st.exitCode,
      oomKilled: st.oomKilled,
      startedAt: date(st.startedAt),
      finishedAt: date(st.finishedAt),
      error: st.error,
      ...(st.health === undefined
        ? {}
        : {
            health: {
              status: st.health.status,
              failingStreak: st.health.failingStreak,
              log: st.health.log.map((p) => ({ start: new Date(p.start), end: new Date(p.end), exitCode: p.exitCode, output: p.output })),
            },
          }),
    },
    network: {
      mode: MODE[net.mode],
      ipAddress: net.ipAddress ?? '',
      gateway: net.gateway ?? '',
      prefixLength: net.prefixLength ?? 0,
      ports: net.ports.map(portToProto),
    },
    command: [...record.command],
    node: record.node,
    logPath: record.logPath,
    snapshotKey: record.snapshotKey,
    restartCount: record.restartCount,
    ...(record.healthCheck === undefined ? {} : { healthcheck: healthToWire(record.healthCheck) }),
  };
}

