import type { HealthConfig } from '@strata/api/images/v1';
import { NetworkMode, Protocol, RestartPolicyName, type ContainerSpec, type RestartPolicy, type Mount, type PortMapping, type Resources } from '@strata/api/containers/v1';
import {
  checkDnsOption,
  checkDnsSearch,
  checkDnsServer,
  checkExtraHost,
  checkMounts,
  checkRestartPolicy,
  checkUlimit,
  checkHealthSettings,
  parseSecurityOptions,
  parseTmpfsSpec,
  parseVolumeSpec,
  type MountSpec,
} from '@strata/containers';
import { dockerError } from './docker-error.js';
import { healthFromWire } from './health-views.js';
import { mountToWire } from './mount-views.js';
import { restartPolicyToWire } from './restart-views.js';

/** Config fields of `POST /containers/create` that are mapped onto the ContainerSpec. */
const SUPPORTED_CONFIG = new Set([
  'Image', 'Cmd', 'Entrypoint', 'Env', 'WorkingDir', 'User', 'Tty', 'OpenStdin', 'Labels', 'ExposedPorts', 'Hostname',
  'StopSignal', 'StopTimeout', 'NetworkDisabled', 'HostConfig', 'NetworkingConfig', 'Volumes', 'Healthcheck',
  // Client-side or implied by Strata's attach: accepted as they are.
  'AttachStdin', 'AttachStdout', 'AttachStderr', 'StdinOnce', 'ArgsEscaped',
]);

/** HostConfig fields that are mapped. */
const SUPPORTED_HOST_CONFIG = new Set([
  'PortBindings', 'PublishAllPorts', 'Memory', 'NanoCpus', 'CpuQuota', 'CpuPeriod', 'PidsLimit', 'NetworkMode', 'AutoRemove',
  'UsernsMode', 'RestartPolicy', 'LogConfig', 'Isolation', 'CgroupnsMode', 'ConsoleSize', 'MemorySwappiness', 'MemorySwap',
  'Binds', 'Mounts', 'Tmpfs', 'ReadonlyRootfs', 'ExtraHosts', 'Dns', 'DnsSearch', 'DnsOptions', 'Ulimits', 'ShmSize', 'CapAdd', 'CapDrop', 'SecurityOpt', 'CpuShares', 'CpusetCpus', 'CpusetMems',
]);

/** Values a field may have and still mean "not asked for" (Docker clients send many zero values). */
function isUnset(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.every(isUnset);
  // A struct of zero fields is unset; a map (Volumes, Tmpfs, Sysctls: keys that are not Go field names) only when empty.
  if (typeof value === 'object') return Object.entries(value as Record<string, unknown>).every(([k, v]) => /^[A-Z][A-Za-z]*$/.test(k) && isUnset(v));
  return false;
}

/** DockerError 400 "unsupported option <prefix><key>" for the first field not in supported that is set (not a zero value). */
export function refuseUnsupported(object: Record<string, unknown>, supported: Set<string>, prefix: string): void {
  for (const [key, value] of Object.entries(object)) {
    if (!supported.has(key) && !isUnset(value)) {
      throw dockerError(400, `unsupported option ${prefix}${key}: Strata's Docker API does not implement it; leave it unset`);
    }
  }
}

type Json = Record<string, unknown>;

function field<T>(object: Json, name: string, prefix: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const value = object[name];
  if (value === undefined || value === null) return undefined;
  if (!check(value)) throw dockerError(400, `invalid ${prefix}${name}: expected ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every(isString);

/** Cmd and Entrypoint may be a list or, in old clients, one string (run by `/bin/sh -c`). */
function commandField(object: Json, name: string): string[] | undefined {
  const value = object[name];
  if (value === undefined || value === null) return undefined;
  if (isString(value)) return ['/bin/sh', '-c', value];
  if (isStrings(value)) return value;
  throw dockerError(400, `invalid ${name}: expected a list of strings`);
}

function protocolOf(key: string, proto: string): Protocol {
  if (proto === 'tcp') return Protocol.PROTOCOL_TCP;
  if (proto === 'udp') return Protocol.PROTOCOL_UDP;
  throw dockerError(400, `invalid port ${key}: protocol ${proto} is not supported (tcp or udp)`);
}

/** `80/tcp` → port and protocol; DockerError 400 naming key when malformed. */
export function parsePortKey(key: string): { port: number; protocol: Protocol } {
  const m = /^(\d{1,5})(?:\/([a-z]+))?$/.exec(key);
  const port = Number(m?.[1]);
  if (m === null || port < 1 || port > 65535) {
    throw dockerError(400, `invalid port ${key}: expected PORT[/PROTOCOL] with PORT in 1-65535 (port ranges are not supported)`);
  }
  return { port, protocol: protocolOf(key, m[2] ?? 'tcp') };
}

function portBindings(host: Json): PortMapping[] {
  const bindings = field(host, 'PortBindings', 'HostConfig.', isObject, 'an object of "PORT/PROTOCOL" to bindings');
  const mappings: PortMapping[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const { port, protocol } = parsePortKey(key);
    if (list === null) continue;
    if (!Array.isArray(list)) throw dockerError(400, `invalid HostConfig.PortBindings[${key}]: expected a list of {HostIp, HostPort}`);
    for (const b of list as unknown[]) {
      if (!isObject(b)) throw dockerError(400, `invalid HostConfig.PortBindings[${key}]: expected a list of {HostIp, HostPort}`);
      const hostIp = b['HostIp'] ?? '';
      const hostPortText = b['HostPort'] ?? '';
      if (!isString(hostIp) || !isString(hostPortText)) {
        throw dockerError(400, `invalid HostConfig.PortBindings[${key}]: HostIp and HostPort must be strings`);
      }
      if (!/^\d{0,5}$/.test(hostPortText) || Number(hostPortText) > 65535) {
        throw dockerError(400, `invalid HostConfig.PortBindings[${key}]: host port ${hostPortText} is not a port number (ranges are not supported)`);
      }
      mappings.push({ hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostPort: Number(hostPortText || '0'), containerPort: port, protocol });
    }
  }
  return mappings;
}

const NETWORK_MODES: Record<string, NetworkMode> = {
  '': NetworkMode.NETWORK_MODE_BRIDGE,
  default: NetworkMode.NETWORK_MODE_BRIDGE,
  bridge: NetworkMode.NETWORK_MODE_BRIDGE,
  none: NetworkMode.NETWORK_MODE_NONE,
  host: NetworkMode.NETWORK_MODE_HOST,
};

/** HostConfig.Ulimits (`[{Name, Soft, Hard}]`), checked as --ulimit's. */
function ulimitsOf(host: Json): Array<{ name: string; soft: number; hard: number }> {
  const list = host['Ulimits'];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list) || !list.every((u) => isObject(u) && isString(u['Name']) && isInt(u['Soft'] ?? 0) && isInt(u['Hard'] ?? 0))) {
    throw dockerError(400, 'invalid HostConfig.Ulimits: expected a list of {Name, Soft, Hard}');
  }
  return (list as Json[]).map((u) => checkUlimit({ name: u['Name'] as string, soft: (u['Soft'] as number | undefined) ?? 0, hard: (u['Hard'] as number | undefined) ?? 0 }));
}

/**
 * The Resources of a HostConfig (or of an update's body): Memory, NanoCpus
 * or CpuQuota/CpuPeriod, PidsLimit; undefined when none is set.
 * DockerError 400 naming the field for a malformed value.
 */
export function resourcesOf(host: Json): Resources | undefined {
  const memory = field(host, 'Memory', 'HostConfig.', isInt, 'an integer number of bytes') ?? 0;
  const nanoCpus = field(host, 'NanoCpus', 'HostConfig.', isInt, 'an integer') ?? 0;
  const quota = field(host, 'CpuQuota', 'HostConfig.', isInt, 'an integer') ?? 0;
  const period = field(host, 'CpuPeriod', 'HostConfig.', isInt, 'an integer') ?? 0;
  const pids = host['PidsLimit'];
  if (pids !== undefined && pids !== null && !isInt(pids)) throw dockerError(400, 'invalid HostConfig.PidsLimit: expected an integer');
  if (memory < 0) throw dockerError(400, 'invalid HostConfig.Memory: must not be negative');
  if (nanoCpus < 0 || quota < 0 || period < 0) throw dockerError(400, 'invalid HostConfig CPU limit: NanoCpus, CpuQuota and CpuPeriod must not be negative');
  if (nanoCpus > 0 && (quota > 0 || period > 0)) {
    throw dockerError(400, 'Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
  }
  if (period > 0 && quota === 0) throw dockerError(400, 'invalid HostConfig.CpuPeriod: set it only together with CpuQuota');
  const cpus = nanoCpus > 0 ? nanoCpus / 1e9 : quota > 0 ? quota / (period || 100_000) : 0;
  // The docker CLI sends 0 when --pids-limit is not given: 0 keeps the node's default limit (Docker
  // reads it as none), a negative value asks for none.
  const pidsLimit = pids === undefined || pids === null ? 0 : (pids as number) < 0 ? -1 : (pids as number);
  const cpuShares = field(host, 'CpuShares', 'HostConfig.', isInt, 'an integer') ?? 0;
  if (cpuShares < 0) throw dockerError(400, 'invalid HostConfig.CpuShares: must not be negative');
  const cpusetCpus = field(host, 'CpusetCpus', 'HostConfig.', isString, 'a string such as "0-3"') ?? '';
  const cpusetMems = field(host, 'CpusetMems', 'HostConfig.', isString, 'a string such as "0"') ?? '';
  // Values the node checks (a CPU it does not have, shares out of range) are its 400s.
  if (memory === 0 && cpus === 0 && pidsLimit === 0 && cpuShares === 0 && cpusetCpus === '' && cpusetMems === '') return undefined;
  return { memoryBytes: memory, cpus, pidsLimit, cpuShares, cpusetCpus, cpusetMems };
}

function checkHostDefaults(host: Json): void {
  const log = host['LogConfig'];
  if (isObject(log) && !['', 'json-file', undefined, null].includes(log['Type'] as string)) {
    throw dockerError(400, `unsupported option HostConfig.LogConfig: log driver ${String(log['Type'])} is not implemented; use json-file`);
  }
  const isolation = host['Isolation'];
  if (isolation !== undefined && isolation !== null && !['', 'default'].includes(isolation as string)) {
    throw dockerError(400, `unsupported option HostConfig.Isolation: ${String(isolation)}`);
  }
  const swap = host['MemorySwap'];
  if (swap !== undefined && swap !== null && swap !== 0 && swap !== -1) {
    throw dockerError(400, 'unsupported option HostConfig.MemorySwap: swap limits are not implemented; leave it unset');
  }
  const swappiness = host['MemorySwappiness'];
  if (swappiness !== undefined && swappiness !== null && swappiness !== -1) {
    throw dockerError(400, 'unsupported option HostConfig.MemorySwappiness: not implemented; leave it unset');
  }
  const userns = host['UsernsMode'];
  if (userns !== undefined && userns !== null && !['', 'host', 'private'].includes(userns as string)) {
    throw dockerError(400, `unsupported option HostConfig.UsernsMode: ${String(userns)} (use "", "host" or "private")`);
  }
}

const MOUNT_FIELDS = new Set(['Type', 'Source', 'Target', 'ReadOnly', 'Consistency', 'BindOptions', 'VolumeOptions', 'TmpfsOptions']);

/** One entry of HostConfig.Mounts (Docker's mount.Mount) as a mount; DockerError 400 for what Strata does not do. */
function mountOf(value: unknown, at: string): MountSpec {
  if (!isObject(value)) throw dockerError(400, `invalid ${at}: expected an object with Type, Source, Target`);
  refuseUnsupported(value, MOUNT_FIELDS, `${at}.`);
  const type = field(value, 'Type', `${at}.`, isString, 'a string') ?? '';
  if (type !== 'bind' && type !== 'tmpfs' && type !== 'volume') throw dockerError(400, `invalid mount config for type "${type}": mount type unknown`);
  const bind = field(value, 'BindOptions', `${at}.`, isObject, 'an object') ?? {};
  refuseUnsupported(bind, new Set(['Propagation', 'CreateMountpoint']), `${at}.BindOptions.`);
  const propagation = field(bind, 'Propagation', `${at}.BindOptions.`, isString, 'a string') ?? '';
  if (!['', 'rprivate'].includes(propagation)) throw dockerError(400, `unsupported option ${at}.BindOptions.Propagation: ${propagation} (Strata's binds are rprivate)`);
  const tmpfs = field(value, 'TmpfsOptions', `${at}.`, isObject, 'an object') ?? {};
  refuseUnsupported(tmpfs, new Set(['SizeBytes', 'Mode']), `${at}.TmpfsOptions.`);
  const sizeBytes = field(tmpfs, 'SizeBytes', `${at}.TmpfsOptions.`, isInt, 'an integer number of bytes');
  const mode = field(tmpfs, 'Mode', `${at}.TmpfsOptions.`, isInt, 'an integer (file mode bits)');
  const createMountpoint = field(bind, 'CreateMountpoint', `${at}.BindOptions.`, isBool, 'a boolean') === true;
  return {
    type,
    source: field(value, 'Source', `${at}.`, isString, 'a string') ?? '',
    target: field(value, 'Target', `${at}.`, isString, 'a string') ?? '',
    readOnly: field(value, 'ReadOnly', `${at}.`, isBool, 'a boolean') ?? false,
    ...(createMountpoint ? { createMountpoint } : {}),
    ...(sizeBytes ? { tmpfsSizeBytes: sizeBytes } : {}),
    ...(mode ? { tmpfsMode: mode } : {}),
  };
}

/**
 * The mounts of HostConfig: Binds (`-v` values, read as Docker's daemon
 * reads them), Mounts (`--mount`) and Tmpfs (`--tmpfs`: target → options),
 * checked together (no two on one target); then an anonymous volume for
 * each path of Config.Volumes (`-v /path`) that none of them covers.
 */
function mountsOf(host: Json, body: Json): Mount[] {
  const binds = field(host, 'Binds', 'HostConfig.', isStrings, 'a list of strings') ?? [];
  const mounts = host['Mounts'] ?? [];
  if (!Array.isArray(mounts)) throw dockerError(400, 'invalid HostConfig.Mounts: expected a list of mounts');
  const tmpfs = field(host, 'Tmpfs', 'HostConfig.', isStringMap, 'an object of path to options') ?? {};
  const all = [
    ...binds.map(parseVolumeSpec),
    ...mounts.map((m: unknown, i) => mountOf(m, `HostConfig.Mounts[${i}]`)),
    ...Object.entries(tmpfs).map(([target, options]) => parseTmpfsSpec(options === '' ? target : `${target}:${options}`)),
  ];
  const taken = new Set(checkMounts(all).map((m) => m.target));
  const volumes = field(body, 'Volumes', '', isObject, 'an object of paths to {}') ?? {};
  for (const target of Object.keys(volumes)) {
    const anonymous: MountSpec = { type: 'volume', source: '', target, readOnly: false };
    if (!taken.has(checkMounts([anonymous])[0]!.target)) all.push(anonymous);
  }
  return checkMounts(all).map(mountToWire);
}

/**
 * The RestartPolicy {Name, MaximumRetryCount} of a HostConfig (or of an
 * update's body), checked with the daemon's rules and texts ("invalid
 * restart policy: unknown policy 'x'; …": InvalidArgument, a 400);
 * undefined when unset. An empty Name is `no`, as the daemon reads it.
 */
export function restartPolicyOf(object: Json): RestartPolicy | undefined {
  const value = field(object, 'RestartPolicy', 'HostConfig.', isObject, 'an object with Name and MaximumRetryCount');
  if (value === undefined) return undefined;
  const name = field(value, 'Name', 'HostConfig.RestartPolicy.', isString, 'a string') ?? '';
  const maximumRetryCount = field(value, 'MaximumRetryCount', 'HostConfig.RestartPolicy.', isInt, 'an integer') ?? 0;
  // Before Docker 25 the CLI sent an empty name with any count: the daemon still reads that as no policy.
  if (name === '') return undefined;
  try {
    return restartPolicyToWire(checkRestartPolicy({ name, maximumRetryCount }));
  } catch (err) {
    throw dockerError(400, (err as Error).message, { cause: err });
  }
}

/** What {@link createSpec} needs besides the request body. */
export interface CreateSpecInput {
  /** The body of `POST /containers/create`. */
  body: Json;
  /** `?name=`; '' for a generated one. */
  name: string;
  /** `?platform=`; '' for the node's. */
  platform: string;
  /** The image's exposed ports (`80/tcp`), for PublishAllPorts. */
  imageExposedPorts?: readonly string[];
}

/** Config.Healthcheck (`--health-*`, `--no-healthcheck`), durations in nanoseconds as Docker's; checked with Docker's texts. */
function healthOf(body: Json): { health?: HealthConfig } {
  const h = field(body, 'Healthcheck', '', isObject, 'an object');
  if (h === undefined) return {};
  refuseUnsupported(h, HEALTH_FIELDS, 'Healthcheck.');
  const nanos = (key: string) => field(h, key, 'Healthcheck.', isInt, 'an integer number of nanoseconds') ?? 0;
  const health: HealthConfig = {
    test: field(h, 'Test', 'Healthcheck.', isStrings, 'a list of strings') ?? [],
    intervalNanos: nanos('Interval'),
    timeoutNanos: nanos('Timeout'),
    startPeriodNanos: nanos('StartPeriod'),
    startIntervalNanos: nanos('StartInterval'),
    retries: field(h, 'Retries', 'Healthcheck.', isInt, 'an integer') ?? 0,
  };
  checkHealthSettings(healthFromWire(health));
  return { health };
}

const HEALTH_FIELDS = new Set(['Test', 'Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries']);

/** HostConfig.SecurityOpt, the docker CLI's form (`seccomp=` and a profile's JSON, `seccomp=unconfined`, `no-new-privileges`), checked for its form. */
function securityOptionsOf(host: Record<string, unknown>): string[] {
  const entries = field(host, 'SecurityOpt', 'HostConfig.', isStrings, 'a list of strings') ?? [];
  parseSecurityOptions(entries);
  return entries;
}

/**
 * The ContainerSpec of a Docker `POST /containers/create` body: Image, Cmd,
 * Entrypoint (`[]` or `[""]` clears the image's), Env, WorkingDir, User,
 * Tty, OpenStdin, Labels, Hostname, StopSignal, StopTimeout,
 * NetworkDisabled, and HostConfig PortBindings (HostPort "" or "0" picks a
 * free port), PublishAllPorts (every exposed port of body and image on a
 * free port), Memory, NanoCpus or CpuQuota/CpuPeriod, PidsLimit (null or 0:
 * the node's default, unlike Docker's none; -1: none), NetworkMode (default, bridge, none,
 * host), AutoRemove, RestartPolicy (see restartPolicyOf; not with
 * AutoRemove: "can't create 'AutoRemove' container with restart policy"),
 * UsernsMode private, Binds, Mounts (bind, tmpfs) and
 * Tmpfs with Docker's rules and texts (see checkMounts). DockerError 400 naming the field
 * for a malformed value or for any other option set to something else than
 * its zero value ("unsupported option HostConfig.Binds: …").
 */
export function createSpec(input: CreateSpecInput): ContainerSpec {
  const { body } = input;
  refuseUnsupported(body, SUPPORTED_CONFIG, '');
  const host = field(body, 'HostConfig', '', isObject, 'an object') ?? {};
  refuseUnsupported(host, SUPPORTED_HOST_CONFIG, 'HostConfig.');
  checkHostDefaults(host);
  const networking = field(body, 'NetworkingConfig', '', isObject, 'an object') ?? {};
  const endpoints = field(networking, 'EndpointsConfig', 'NetworkingConfig.', isObject, 'an object') ?? {};
  for (const name of Object.keys(endpoints)) {
    if (!['bridge', 'default', 'host', 'none'].includes(name)) {
      throw dockerError(400, `unsupported option NetworkingConfig.EndpointsConfig: network ${name} does not exist (Strata has bridge, host and none)`);
    }
  }

  const image = field(body, 'Image', '', isString, 'a string') ?? '';
  if (image === '') throw dockerError(400, 'invalid Image: an image is required');
  const cmd = commandField(body, 'Cmd') ?? [];
  const entrypoint = commandField(body, 'Entrypoint');
  const entrypointCleared = entrypoint !== undefined && (entrypoint.length === 0 || (entrypoint.length === 1 && entrypoint[0] === ''));

  const modeName = field(host, 'NetworkMode', 'HostConfig.', isString, 'a string') ?? '';
  let networkMode = NETWORK_MODES[modeName];
  if (networkMode === undefined) {
    throw dockerError(400, `unsupported option HostConfig.NetworkMode: ${modeName} (Strata has default, bridge, host and none)`);
  }
  if (field(body, 'NetworkDisabled', '', isBool, 'a boolean') === true) networkMode = NetworkMode.NETWORK_MODE_NONE;

  const ports = portBindings(host);
  const exposed = field(body, 'ExposedPorts', '', isObject, 'an object of "PORT/PROTOCOL" to {}') ?? {};
  for (const key of Object.keys(exposed)) parsePortKey(key);
  if (field(host, 'PublishAllPorts', 'HostConfig.', isBool, 'a boolean') === true) {
    const bound = new Set(ports.map((p) => `${p.containerPort}/${p.protocol}`));
    for (const key of new Set([...Object.keys(exposed), ...(input.imageExposedPorts ?? [])])) {
      const { port, protocol } = parsePortKey(key);
      if (bound.has(`${port}/${protocol}`)) continue;
      bound.add(`${port}/${protocol}`);
      ports.push({ hostIp: '', hostPort: 0, containerPort: port, protocol });
    }
  }
  if (ports.length > 0 && networkMode !== NetworkMode.NETWORK_MODE_BRIDGE) {
    throw dockerError(400, `invalid HostConfig.PortBindings: published ports need the bridge network, not ${modeName || 'none'}`);
  }
  const resources = resourcesOf(host);
  const stopTimeout = field(body, 'StopTimeout', '', isInt, 'an integer number of seconds');
  const autoRemove = field(host, 'AutoRemove', 'HostConfig.', isBool, 'a boolean') ?? false;
  const asked = restartPolicyOf(host);
  // `no` (what the docker CLI sends by default) is the same as none.
  const restartPolicy = asked?.name === RestartPolicyName.RESTART_POLICY_NAME_NO ? undefined : asked;
  if (autoRemove && restartPolicy !== undefined) throw dockerError(400, "can't create 'AutoRemove' container with restart policy");
  return {
    image,
    name: input.name,
    cmd,
    entrypoint: entrypoint === undefined || entrypointCleared ? [] : entrypoint,
    entrypointSet: entrypoint !== undefined,
    env: field(body, 'Env', '', isStrings, 'a list of "KEY=value" strings') ?? [],
    workingDir: field(body, 'WorkingDir', '', isString, 'a string') ?? '',
    user: field(body, 'User', '', isString, 'a string') ?? '',
    tty: field(body, 'Tty', '', isBool, 'a boolean') ?? false,
    openStdin: field(body, 'OpenStdin', '', isBool, 'a boolean') ?? false,
    hostname: field(body, 'Hostname', '', isString, 'a string') ?? '',
    ports,
    networkMode,
    ...(resources === undefined ? {} : { resources }),
    autoRemove,
    ...(restartPolicy === undefined ? {} : { restartPolicy }),
    labels: field(body, 'Labels', '', isStringMap, 'an object of strings') ?? {},
    stopSignal: field(body, 'StopSignal', '', isString, 'a string') ?? '',
    stopTimeoutSeconds: stopTimeout !== undefined && stopTimeout > 0 ? stopTimeout : 0,
    platform: input.platform,
    userNamespace: host['UsernsMode'] === 'private',
    mounts: mountsOf(host, body),
    readOnly: field(host, 'ReadonlyRootfs', 'HostConfig.', isBool, 'a boolean') ?? false,
    extraHosts: (field(host, 'ExtraHosts', 'HostConfig.', isStrings, 'a list of "HOST:IP" strings') ?? []).map(checkExtraHost),
    dns: (field(host, 'Dns', 'HostConfig.', isStrings, 'a list of IP addresses') ?? []).map(checkDnsServer),
    dnsSearch: (field(host, 'DnsSearch', 'HostConfig.', isStrings, 'a list of domains') ?? []).map(checkDnsSearch),
    dnsOptions: (field(host, 'DnsOptions', 'HostConfig.', isStrings, 'a list of options') ?? []).map(checkDnsOption),
    ulimits: ulimitsOf(host),
    shmSizeBytes: Math.max(0, field(host, 'ShmSize', 'HostConfig.', isInt, 'an integer number of bytes') ?? 0),
    capAdd: field(host, 'CapAdd', 'HostConfig.', isStrings, 'a list of capabilities') ?? [],
    capDrop: field(host, 'CapDrop', 'HostConfig.', isStrings, 'a list of capabilities') ?? [],
    securityOpt: securityOptionsOf(host),
    ...healthOf(body),
  };
}
