import { NetworkMode, Protocol, RestartPolicyName, type ContainerSpec, type PortMapping, type Resources, type RestartPolicy } from '@strata/api/containers/v1';
import { parseMemory, validateLimits } from '@strata/cgroups';
import { parsePortMapping } from '@strata/container-network';
import { checkDnsOption, checkDnsSearch, checkDnsServer, checkExtraHost, checkHealthSettings, parseRestartPolicy, parseSecurityOptions, parseUlimit } from '@strata/containers';
import type { HealthConfig } from '@strata/api/images/v1';
import { healthFromWire, mountToWire, restartPolicyToWire } from '@strata/docker-api/views';
import { invalidArgument } from '@strata/kit';
import { parsePlatform } from '@strata/oci';
import { parseEnvEntry, parseEnvFile, parseLabels } from './container-options.js';
import { mountsOfFlags } from './mount-options.js';
import { parseGoDuration } from './events-time.js';

/** The resource flags as the command line gave them (`--memory` as written, the others parsed). */
export interface ResourceFlagValues {
  memory?: string | undefined;
  cpus?: number | undefined;
  pidsLimit?: number | undefined;
  /** `--cpu-shares`; 0 (the default) leaves it unset, as Docker's. */
  cpuShares?: number | undefined;
  cpusetCpus?: string | undefined;
  cpusetMems?: string | undefined;
}

/** The flags of `run`/`create` that make up a spec, as the command line gave them. */
export interface SpecFlagValues extends ResourceFlagValues {
  interactive: boolean;
  tty: boolean;
  rm: boolean;
  /** `--restart` as written. */
  restart?: string | undefined;
  name?: string | undefined;
  env: string[];
  workdir?: string | undefined;
  user?: string | undefined;
  publish: string[];
  network: 'bridge' | 'none' | 'host';
  hostname?: string | undefined;
  /** `private`: a user namespace with the node's id range; `host` (or absent): none. */
  userns?: 'host' | 'private' | undefined;
  entrypoint?: string | undefined;
  label: string[];
  stopSignal?: string | undefined;
  stopTimeout?: number | undefined;
  platform?: string | undefined;
  /** `-v` values. */
  volume?: string[];
  /** `--mount` values. */
  mount?: string[];
  /** `--tmpfs` values. */
  tmpfs?: string[];
  readOnly?: boolean;
  addHost?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  ulimit?: string[];
  /** `--shm-size` as written (`64m`). */
  shmSize?: string | undefined;
  capAdd?: string[];
  capDrop?: string[];
  /** `--security-opt` values, a `seccomp=FILE` already replaced by the file's JSON (see readSeccompProfiles). */
  securityOpt?: string[];
  healthCmd?: string | undefined;
  healthInterval?: string | undefined;
  healthTimeout?: string | undefined;
  healthStartPeriod?: string | undefined;
  healthStartInterval?: string | undefined;
  healthRetries?: number;
  noHealthcheck?: boolean;
}

/** What {@link buildContainerSpec} makes a spec of. */
export interface SpecInput {
  /** The image as the user wrote it. */
  image: string;
  /** CMD… after the image; empty for the image's. */
  command: readonly string[];
  flags: SpecFlagValues;
  /** The `--env-file` files' names and contents, in flag order. */
  envFiles: ReadonlyArray<{ path: string; text: string }>;
  /** The CLI's environment, for bare `-e KEY`. */
  env: Readonly<Record<string, string | undefined>>;
  /** What `-v ./x:/x` and `--mount src=./x` are relative to; the process's working directory by default. */
  cwd?: string;
}

/**
 * The health checks of `--health-*` and `--no-healthcheck`, read as the
 * docker CLI reads them (`--health-cmd` runs through the shell, durations
 * are Go's: `30s`, `1m30s`, `500ms`); none when no flag is given.
 * InvalidArgument with Docker's texts.
 */
export function healthOfFlags(f: SpecFlagValues): { health?: HealthConfig } {
  const durations = { Interval: f.healthInterval, Timeout: f.healthTimeout, StartPeriod: f.healthStartPeriod, StartInterval: f.healthStartInterval };
  const given = f.healthCmd !== undefined || Object.values(durations).some((d) => d !== undefined) || (f.healthRetries ?? 0) !== 0;
  if (f.noHealthcheck === true) {
    if (given) throw invalidArgument('--no-healthcheck conflicts with --health-* options');
    return { health: { test: ['NONE'], intervalNanos: 0, timeoutNanos: 0, startPeriodNanos: 0, startIntervalNanos: 0, retries: 0 } };
  }
  if (!given) return {};
  const nanos = (name: string, text: string | undefined) => {
    if (text === undefined) return 0;
    const ms = parseGoDuration(text);
    if (ms === undefined) throw invalidArgument(`invalid argument "${text}" for --health-${name}: time: invalid duration "${text}"`);
    return Math.round(ms * 1e6);
  };
  const health: HealthConfig = {
    test: f.healthCmd === undefined ? [] : ['CMD-SHELL', f.healthCmd],
    intervalNanos: nanos('interval', durations.Interval),
    timeoutNanos: nanos('timeout', durations.Timeout),
    startPeriodNanos: nanos('start-period', durations.StartPeriod),
    startIntervalNanos: nanos('start-interval', durations.StartInterval),
    retries: f.healthRetries ?? 0,
  };
  checkHealthSettings(healthFromWire(health));
  return { health };
}

/** The `--security-opt` entries, checked for their form (a profile's fields are checked by the node). */
function checkSecurityOptions(entries: readonly string[]): string[] {
  parseSecurityOptions(entries);
  return [...entries];
}

/**
 * `--security-opt` entries with each `seccomp=FILE` replaced by
 * `seccomp=` and the file's JSON, compacted (what the docker CLI sends);
 * `unconfined`, `builtin` and inline JSON stay. read gives a file's text.
 * InvalidArgument with Docker's texts for a file that cannot be read (its
 * errno code) or is not JSON.
 */
export async function readSeccompProfiles(entries: readonly string[], read: (path: string) => Promise<string>): Promise<string[]> {
  return Promise.all(
    entries.map(async (entry) => {
      const m = /^seccomp[=:](.*)$/s.exec(entry);
      const value = m?.[1];
      if (value === undefined || value === 'unconfined' || value === 'builtin' || value.trimStart().startsWith('{')) return entry;
      let text: string;
      try {
        text = await read(value);
      } catch (err) {
        // The errno code, not its text: a "no such file" would read as a command not found (exit 127).
        throw invalidArgument(`opening seccomp profile (${value}) failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      try {
        return `seccomp=${JSON.stringify(JSON.parse(text))}`;
      } catch (err) {
        throw invalidArgument(`compacting json for seccomp profile (${value}) failed: ${(err as Error).message}`);
      }
    }),
  );
}

/** A `-p` value as the API's PortMapping; InvalidArgument (from the network rules) when malformed. */
export function toPortMapping(text: string): PortMapping {
  const p = parsePortMapping(text);
  return {
    hostIp: p.hostIp,
    hostPort: p.hostPort,
    containerPort: p.containerPort,
    protocol: p.protocol === 'udp' ? Protocol.PROTOCOL_UDP : Protocol.PROTOCOL_TCP,
  };
}

/**
 * The API's Resources of the resource flags, checked with the cgroup rules
 * (memory as Docker writes it and at least 6 MiB, or 0 for no limit as
 * Docker's `-m 0`; cpus at least 0.01, cpu shares 2..262144, cpuset
 * lists; the node checks its own CPU count and CPUs); undefined when none
 * is given. Raises InvalidArgument naming the value.
 */
export function toResources(flags: ResourceFlagValues): Resources | undefined {
  const { memory, cpus, pidsLimit, cpusetCpus, cpusetMems } = flags;
  const cpuShares = flags.cpuShares || undefined;
  if ([memory, cpus, pidsLimit, cpuShares, cpusetCpus, cpusetMems].every((v) => v === undefined)) return undefined;
  const memoryBytes = memory === undefined ? undefined : parseMemory(memory);
  validateLimits(
    {
      ...(memoryBytes ? { memoryBytes } : {}),
      ...(cpus === undefined ? {} : { cpus }),
      ...(cpuShares === undefined ? {} : { cpuShares }),
      ...(cpusetCpus === undefined ? {} : { cpusetCpus }),
      ...(cpusetMems === undefined ? {} : { cpusetMems }),
    },
    Number.POSITIVE_INFINITY,
  );
  return { memoryBytes: memoryBytes ?? 0, cpus: cpus ?? 0, pidsLimit: pidsLimit ?? 0, cpuShares: cpuShares ?? 0, cpusetCpus: cpusetCpus ?? '', cpusetMems: cpusetMems ?? '' };
}

/**
 * The API's RestartPolicy of `--restart` (undefined when not given), read
 * as the docker CLI reads it; InvalidArgument with Docker's texts ("invalid
 * restart policy format: maximum retry count must be an integer").
 */
export function toRestartPolicy(text: string | undefined): RestartPolicy | undefined {
  return text === undefined ? undefined : restartPolicyToWire(parseRestartPolicy(text));
}

const NETWORK_MODES = { bridge: NetworkMode.NETWORK_MODE_BRIDGE, none: NetworkMode.NETWORK_MODE_NONE, host: NetworkMode.NETWORK_MODE_HOST };

/**
 * The ContainerSpec that `run`/`create` asks the node-agent for, from the
 * command line: env files first then `-e` (later wins, as in Docker),
 * `--entrypoint ""` clearing the image's entrypoint, `-p` parsed, limits
 * checked, `--restart` read as the docker CLI reads it (not with `--rm`:
 * "Conflicting options: --restart and --rm"), `--platform` parsed, `-v`,
 * `--mount` and `--tmpfs` read as Docker reads them (see mountsOfFlags;
 * the node checks them together).
 * Raises InvalidArgument for the first bad value, before anything is
 * sent; `-p` with `--network host|none` too.
 */
export function buildContainerSpec(input: SpecInput): ContainerSpec {
  const { flags: f } = input;
  const env = [
    ...input.envFiles.flatMap((file) => parseEnvFile(file.text, file.path, input.env)),
    ...f.env.map((entry) => parseEnvEntry(entry, input.env)),
  ];
  const ports = f.publish.map(toPortMapping);
  if (ports.length > 0 && f.network !== 'bridge') {
    throw invalidArgument(`published ports (-p) need the bridge network, not --network ${f.network}`);
  }
  if (f.platform !== undefined) parsePlatform(f.platform);
  const resources = toResources(f);
  const restartPolicy = toRestartPolicy(f.restart);
  if (f.rm && restartPolicy !== undefined && restartPolicy.name !== RestartPolicyName.RESTART_POLICY_NAME_NO) {
    throw invalidArgument('Conflicting options: --restart and --rm');
  }
  const mounts = mountsOfFlags({ volume: f.volume ?? [], mount: f.mount ?? [], tmpfs: f.tmpfs ?? [] }, input.cwd ?? process.cwd());
  const shmSizeBytes = f.shmSize === undefined ? 0 : parseMemory(f.shmSize);
  return {
    image: input.image,
    name: f.name ?? '',
    cmd: [...input.command],
    entrypoint: f.entrypoint === undefined || f.entrypoint === '' ? [] : [f.entrypoint],
    entrypointSet: f.entrypoint !== undefined,
    env,
    workingDir: f.workdir ?? '',
    user: f.user ?? '',
    tty: f.tty,
    openStdin: f.interactive,
    hostname: f.hostname ?? '',
    ports,
    networkMode: NETWORK_MODES[f.network],
    ...(resources === undefined ? {} : { resources }),
    autoRemove: f.rm,
    ...(restartPolicy === undefined ? {} : { restartPolicy }),
    labels: parseLabels(f.label),
    stopSignal: f.stopSignal ?? '',
    stopTimeoutSeconds: f.stopTimeout ?? 0,
    platform: f.platform ?? '',
    userNamespace: f.userns === 'private',
    mounts: mounts.map(mountToWire),
    readOnly: f.readOnly === true,
    extraHosts: (f.addHost ?? []).map(checkExtraHost),
    dns: (f.dns ?? []).map(checkDnsServer),
    dnsSearch: (f.dnsSearch ?? []).map(checkDnsSearch),
    dnsOptions: (f.dnsOption ?? []).map(checkDnsOption),
    ulimits: (f.ulimit ?? []).map(parseUlimit),
    shmSizeBytes,
    capAdd: [...(f.capAdd ?? [])],
    capDrop: [...(f.capDrop ?? [])],
    securityOpt: checkSecurityOptions(f.securityOpt ?? []),
    ...healthOfFlags(f),
  };
}
