import { isAbsolute } from 'node:path';
import { release } from 'node:os';
import { lstat, realpath } from 'node:fs/promises';
import { invalidArgument } from '@strata/kit';
import type { ContainerConfig } from '@strata/oci';
import {
  CPU_PERIOD_US,
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_PIDS_LIMIT,
  DEFAULT_READONLY_PATHS,
  DEFAULT_RLIMITS,
  containerCapabilities,
} from './hardened-defaults.js';
import { resolveUser, type ResolvedUser } from './resolve-user.js';
import { cleanComponents, resolveInRoot } from './root-file.js';
import {
  OCI_VERSION,
  type IdMapping,
  type RuntimeSpec,
  type SeccompProfile,
  type SpecCapabilities,
  type SpecMount,
  type SpecNamespace,
  type SpecProcess,
  type SpecResources,
} from './runtime-spec.js';
import { defaultSeccompProfile } from './seccomp-profile.js';
import { parseSeccompProfile, resolveSeccompProfile } from './seccomp-custom.js';

/**
 * The container's network namespace: a path to join (a named netns such as
 * `/var/run/netns/strata-1a2b` that someone else created and configured),
 * `host` to share the host's, or `none` for a fresh namespace with only a
 * loopback interface (runc creates it).
 */
export type NetworkNamespace = 'host' | 'none' | { path: string };

/** cgroup limits of a container. */
export interface ResourceLimits {
  /** Memory limit in bytes (at least 6 MiB, as Docker). */
  memoryBytes?: number;
  /** Memory + swap limit in bytes (cgroup v1 memsw); at least memoryBytes. Unset leaves swap to the host's defaults. */
  memorySwapBytes?: number;
  /** CPUs as a fraction (0.5 = half a CPU), enforced as a CFS quota over a 100 ms period; at least 0.01. */
  cpus?: number;
  /** Largest number of tasks; {@link DEFAULT_PIDS_LIMIT} when unset, -1 for no limit. */
  pidsLimit?: number;
  /** Relative CPU weight (`--cpu-shares`, 2..262144; runc writes cpu.weight on cgroup v2). This and the cpusets are checked by the caller (validateLimits of @strata/cgroups). */
  cpuShares?: number;
  /** CPUs the container may run on (`--cpuset-cpus`, `0-2,4`). */
  cpusetCpus?: string;
  /** Memory nodes it may allocate from (`--cpuset-mems`). */
  cpusetMems?: string;
}

/** Host files bind-mounted over the container's /etc files (absolute host paths, prepared by the caller). */
export interface ContainerFiles {
  hosts?: string;
  hostname?: string;
  resolvConf?: string;
}

/**
 * A mount the user asked for (`-v`, `--mount`, `--tmpfs`): a host path
 * bound (rbind, rprivate, ro when readOnly) or a fresh tmpfs (nosuid,
 * nodev, noexec, rprivate, as Docker's, then its own options: `exec` and
 * the like override those, a later `size=` an earlier one).
 */
export type UserMount =
  | { type: 'bind'; source: string; destination: string; readOnly: boolean }
  | { type: 'tmpfs'; destination: string; readOnly: boolean; sizeBytes?: number; mode?: number; options?: string };

/** uid and gid maps of a user namespace. */
export interface UserNamespaceMappings {
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

/** Everything {@link buildRuntimeSpec} needs. */
export interface RuntimeSpecOptions {
  /** The container id (runc's id; the default hostname is its first 12 characters). */
  containerId: string;
  /** The mounted root file system (absolute host path, writable). */
  rootfs: string;
  /** The image's run configuration (`config` of the image config, as @strata/oci parseImageConfig returns it). */
  image?: ContainerConfig;
  /** Replaces the image's Cmd (`run IMAGE CMD…`); undefined or empty keeps it. */
  args?: string[];
  /** Replaces the image's Entrypoint and clears its Cmd (`--entrypoint`); `[]` clears the Entrypoint. */
  entrypoint?: string[];
  /** `KEY=value` entries (`-e`) that override the image's variables of the same name. */
  env?: string[];
  /** Working directory (`-w`); the image's WorkingDir, or `/`, when unset or empty. */
  workingDir?: string;
  /** User spec (`-u`): name, uid, name:group or uid:gid; the image's User, or root, when unset. */
  user?: string;
  /**
   * Resolves the user spec against rootfs: {@link resolveUser} when unset.
   * A caller that knows the root file system is an image's, untouched, may
   * answer from what it resolved for that image before.
   */
  resolveUser?: (rootfs: string, user: string) => Promise<ResolvedUser>;
  /** Give the process a terminal (`-t`). */
  tty?: boolean;
  /** Hostname; the first 12 characters of containerId when unset. */
  hostname?: string;
  network: NetworkNamespace;
  resources?: ResourceLimits;
  /** The cgroup of the container, as runc reads `linux.cgroupsPath` (chosen by the cgroup driver). */
  cgroupsPath: string;
  /** Give the container its own cgroup namespace (what Docker does on cgroup v2 hosts). */
  cgroupNamespace?: boolean;
  /** Run in a user namespace with these maps (the root file system must be owned by the mapped ids). */
  userNamespace?: UserNamespaceMappings;
  files?: ContainerFiles;
  /** Binds and tmpfs mounts; one on the destination of a default mount (/dev/shm, /etc/hosts…) replaces it. */
  mounts?: UserMount[];
  /** The open-files limit (soft and hard); {@link DEFAULT_NOFILE_LIMIT} when unset (see {@link grantableNofileLimit}). */
  nofileLimit?: number;
  /**
   * Limits of the process (`--ulimit`, checked with checkUlimit of
   * @strata/containers), each replacing the default of its type; -1 is
   * unlimited (written with stringifyOciJson of @strata/kit).
   */
  ulimits?: ReadonlyArray<{ name: string; soft: number; hard: number }>;
  /** Mount the root file system read-only (`--read-only`). */
  readOnlyRoot?: boolean;
  /**
   * `--cap-add` and `--cap-drop` (see containerCapabilities); the default
   * seccomp profile then also allows the syscalls of the capabilities
   * added (CAPABILITY_SYSCALLS).
   */
  capabilities?: { add?: readonly string[]; drop?: readonly string[] };
  /** Size of /dev/shm in bytes (`--shm-size`); 64 MiB when unset or 0. */
  shmSizeBytes?: number;
  /**
   * The seccomp profile: {@link defaultSeccompProfile} when unset,
   * `unconfined` for none, or the text of a profile in Docker's format
   * (`--security-opt seccomp=FILE`), checked with parseSeccompProfile and
   * resolved for the container's capabilities and this host.
   */
  seccomp?: SeccompProfile | 'unconfined' | { json: string };
  /** The image's architecture (OCI's names), which decides the syscall ABIs the default profile admits (seccompArchitectures). */
  imageArchitecture?: string;
  annotations?: Record<string, string>;
}

/** The annotation carrying the signal that stops the container (from the image's StopSignal). */
export const STOP_SIGNAL_ANNOTATION = 'org.strata.stop-signal';

/** Paths the runtime mounts over the root file system: a working directory may not be at or below them. */
const RUNTIME_MOUNT_ROOTS = ['proc', 'sys', 'dev'];

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const HOSTNAME_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;
const ENV_KEY = /^[^=\0]+$/;
const MIN_MEMORY = 6 * 1024 * 1024;
const MIN_CPU_QUOTA_US = 1000;

const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18,
  SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26,
  SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/**
 * The signal an image asks to be stopped with, as a name (`SIGTERM` when the
 * image names none). Accepts `SIGINT`, `INT`, `2` and real-time signals
 * `SIGRTMIN+n`/numbers 34–64, which come back as their number string.
 * Raises InvalidArgument for anything else.
 */
export function parseStopSignal(value: string | undefined): string {
  if (value === undefined || value === '') return 'SIGTERM';
  const upper = value.toUpperCase();
  const named = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (SIGNALS[named] !== undefined) return named;
  if (/^[0-9]+$/.test(value)) {
    const number = Number(value);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === number);
    if (name !== undefined) return name;
    if (number >= 34 && number <= 64) return String(number);
  }
  const rt = /^SIGRTMIN\+([0-9]+)$/.exec(named);
  if (rt !== null && Number(rt[1]) <= 30) return String(34 + Number(rt[1]));
  throw invalidArgument(`invalid stop signal "${value}": use a name such as SIGTERM or a number`);
}

/** One port an image exposes. */
export interface ExposedPort {
  port: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/**
 * The image's ExposedPorts (`80/tcp`, `53/udp`, `8080` meaning tcp), sorted
 * by port then protocol. Raises InvalidArgument for a key that is not a
 * port 1–65535 with an optional tcp/udp/sctp protocol.
 */
export function exposedPorts(image: ContainerConfig | undefined): ExposedPort[] {
  const out: ExposedPort[] = [];
  for (const key of Object.keys(image?.ExposedPorts ?? {})) {
    const match = /^([0-9]{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
    const port = match === null ? 0 : Number(match[1]);
    if (match === null || port < 1 || port > 65535) throw invalidArgument(`invalid exposed port "${key}": use PORT or PORT/tcp|udp|sctp`);
    out.push({ port, protocol: (match[2]?.toLowerCase() ?? 'tcp') as ExposedPort['protocol'] });
  }
  return out.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

/**
 * The process arguments with Docker's rules: an `entrypoint` option
 * replaces the image's Entrypoint and drops its Cmd; non-empty `args`
 * replace the Cmd; the result is Entrypoint followed by Cmd. Raises
 * InvalidArgument "no command specified" when that is empty, and for an
 * empty program name or an argument with a NUL byte.
 */
export function processArgs(image: ContainerConfig | undefined, args?: readonly string[], entrypoint?: readonly string[]): string[] {
  const entry = entrypoint !== undefined ? [...entrypoint] : [...(image?.Entrypoint ?? [])];
  const cmd = args !== undefined && args.length > 0 ? [...args] : entrypoint !== undefined ? [] : [...(image?.Cmd ?? [])];
  const all = [...entry, ...cmd];
  if (all.length === 0) throw invalidArgument('no command specified: the image has no Entrypoint or Cmd; give a command');
  if (all[0] === '') throw invalidArgument('invalid command: the program name is empty');
  if (all.some((a) => a.includes('\0'))) throw invalidArgument('invalid command: an argument contains a NUL byte');
  return all;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

function checkEnv(entry: string, what: string): void {
  const eq = entry.indexOf('=');
  if (eq <= 0 || !ENV_KEY.test(entry.slice(0, eq)) || entry.includes('\0')) {
    throw invalidArgument(`invalid environment variable "${entry.replace(/\0/g, '\\0')}" in ${what}: use KEY=value`);
  }
}

/** Replaces the entry with the same key or appends it, keeping the order of first appearance. */
function setEnv(env: string[], entry: string): void {
  const key = envKey(entry);
  const index = env.findIndex((e) => envKey(e) === key);
  if (index >= 0) env[index] = entry;
  else env.push(entry);
}

/** Settings of {@link processEnv}. */
export interface ProcessEnvOptions {
  hostname: string;
  home: string;
  tty: boolean;
}

/**
 * The environment: the image's entries, then `env` overriding by name, then
 * defaults for what is still missing — PATH ({@link DEFAULT_PATH}),
 * HOSTNAME, HOME (the user's home) and, with a terminal, TERM=xterm.
 * Raises InvalidArgument for an entry that is not KEY=value.
 */
export function processEnv(imageEnv: readonly string[] | undefined, env: readonly string[] | undefined, options: ProcessEnvOptions): string[] {
  const out: string[] = [];
  for (const entry of imageEnv ?? []) {
    checkEnv(entry, "the image's Env");
    setEnv(out, entry);
  }
  for (const entry of env ?? []) {
    checkEnv(entry, 'the options');
    setEnv(out, entry);
  }
  const has = (key: string) => out.some((e) => envKey(e) === key);
  if (!has('PATH')) out.push(`PATH=${DEFAULT_PATH}`);
  if (!has('HOSTNAME')) out.push(`HOSTNAME=${options.hostname}`);
  if (!has('HOME')) out.push(`HOME=${options.home}`);
  if (options.tty && !has('TERM')) out.push('TERM=xterm');
  return out;
}

/**
 * Checks a working directory lexically: it must be absolute and free of NUL
 * bytes, and may not be at or under /proc, /sys or /dev, which the runtime
 * mounts over the root file system (`/proc/self/fd/N` would leak a host
 * descriptor, CVE-2024-21626; `/dev/fd/N` links there). Returns the cleaned
 * path. Raises InvalidArgument naming the path and the reason.
 */
export function checkWorkingDir(dir: string): string {
  if (dir.includes('\0')) throw invalidArgument('invalid working directory: it contains a NUL byte');
  if (!dir.startsWith('/')) throw invalidArgument(`invalid working directory "${dir}": it must be an absolute path`);
  const components = cleanComponents(dir);
  refuseRuntimeMounts(dir, components);
  return `/${components.join('/')}`;
}

function refuseRuntimeMounts(dir: string, components: readonly string[]): void {
  const top = components[0];
  if (top !== undefined && RUNTIME_MOUNT_ROOTS.includes(top)) {
    throw invalidArgument(
      `working directory "${dir}" is refused: it is under /${top}, which the runtime mounts over the container's files (see CVE-2024-21626); choose a directory of the image`,
    );
  }
}

/**
 * Resolves a working directory inside rootfs with chroot semantics (after
 * {@link checkWorkingDir}), creates what is missing (0755, owned by owner),
 * and returns the resolved path with no symlink left in it — what runc
 * should chdir to. Raises InvalidArgument when it resolves under /proc,
 * /sys or /dev (a symlink such as `/work -> /proc/self/fd/7`), when a
 * component is not a directory, or for symlink loops.
 */
export async function prepareWorkingDir(rootfs: string, dir: string, owner?: { uid: number; gid: number }): Promise<string> {
  const cleaned = checkWorkingDir(dir);
  const root = await realpath(rootfs);
  const what = `working directory "${dir}"`;
  const probe = await resolveInRoot(root, cleaned, what);
  refuseRuntimeMounts(dir, probe.components);
  if (probe.exists) {
    await assertDirectory(probe.hostPath, what);
    return `/${probe.components.join('/')}`;
  }
  const created = await resolveInRoot(root, cleaned, what, owner === undefined ? {} : { owner });
  refuseRuntimeMounts(dir, created.components);
  await assertDirectory(created.hostPath, what);
  return `/${created.components.join('/')}`;
}

async function assertDirectory(path: string, what: string): Promise<void> {
  const stats = await lstat(path);
  if (!stats.isDirectory()) throw invalidArgument(`${what} is not a directory in the image`);
}

/**
 * The capability sets of a container process: caps (by default
 * {@link DEFAULT_CAPABILITIES}; see containerCapabilities) in bounding,
 * effective and permitted.
 */
export function defaultCapabilities(caps: readonly string[] = DEFAULT_CAPABILITIES): SpecCapabilities {
  return {
    bounding: [...caps],
    effective: [...caps],
    permitted: [...caps],
    inheritable: [],
    ambient: [],
  };
}

function checkHostname(hostname: string): void {
  const labels = hostname.split('.');
  if (hostname.length > 64 || !labels.every((l) => l.length <= 63 && HOSTNAME_LABEL.test(l))) {
    throw invalidArgument(`invalid hostname "${hostname}": use letters, digits, '-' and '.', at most 64 characters`);
  }
}

function checkHostFile(path: string | undefined, what: string): void {
  if (path !== undefined && (!isAbsolute(path) || path.includes('\0'))) throw invalidArgument(`${what} must be an absolute host path, not "${path}"`);
}

function checkMappings(maps: readonly IdMapping[], what: string): void {
  if (maps.length === 0 || maps.length > 340) throw invalidArgument(`${what} must have 1 to 340 entries`);
  for (const m of maps) {
    const ok = [m.containerID, m.hostID, m.size].every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff) && m.size > 0;
    if (!ok) throw invalidArgument(`${what}: each entry needs whole containerID, hostID and size (size > 0) within 32 bits`);
  }
}

/**
 * The cgroup resources: {@link DEFAULT_DEVICE_RULES}, a memory limit, a
 * CPU quota of `cpus × 100 ms` per 100 ms period, and a pids limit
 * ({@link DEFAULT_PIDS_LIMIT} when unset; -1 for none). Raises
 * InvalidArgument for memory under 6 MiB, swap under memory, cpus under
 * 0.01 or not a finite number, and a pids limit that is not a positive
 * integer or -1.
 */
export function specResources(limits: ResourceLimits = {}): SpecResources {
  const resources: SpecResources = { devices: DEFAULT_DEVICE_RULES.map((rule) => ({ ...rule })) };
  const { memoryBytes, memorySwapBytes, cpus, pidsLimit, cpuShares, cpusetCpus, cpusetMems } = limits;
  if (memoryBytes !== undefined) {
    if (!Number.isSafeInteger(memoryBytes) || memoryBytes < MIN_MEMORY) {
      throw invalidArgument(`invalid memory limit ${memoryBytes}: the minimum is 6 MiB (${MIN_MEMORY} bytes)`);
    }
    resources.memory = { limit: memoryBytes };
  }
  if (memorySwapBytes !== undefined) {
    if (memoryBytes === undefined || !Number.isSafeInteger(memorySwapBytes) || memorySwapBytes < memoryBytes) {
      throw invalidArgument('invalid memory+swap limit: it needs a memory limit and must be at least as large');
    }
    resources.memory = { limit: memoryBytes, swap: memorySwapBytes };
  }
  if (cpus !== undefined) {
    const quota = Math.round(cpus * CPU_PERIOD_US);
    if (!Number.isFinite(cpus) || quota < MIN_CPU_QUOTA_US) throw invalidArgument(`invalid cpus ${cpus}: use a number of at least 0.01`);
    resources.cpu = { quota, period: CPU_PERIOD_US };
  }
  // Checked by the caller with the cgroup rules (validateLimits of @strata/cgroups); runc writes them as given.
  if (cpuShares !== undefined) resources.cpu = { ...resources.cpu, shares: cpuShares };
  if (cpusetCpus !== undefined) resources.cpu = { ...resources.cpu, cpus: cpusetCpus };
  if (cpusetMems !== undefined) resources.cpu = { ...resources.cpu, mems: cpusetMems };
  const pids = pidsLimit ?? DEFAULT_PIDS_LIMIT;
  if (!(pids === -1 || (Number.isSafeInteger(pids) && pids > 0))) {
    throw invalidArgument(`invalid pids limit ${pidsLimit}: use a positive number, or -1 for no limit`);
  }
  resources.pids = { limit: pids };
  return resources;
}

function specRlimits(nofile: number | undefined, ulimits: RuntimeSpecOptions['ulimits'] = []) {
  let base: Array<{ type: string; soft: number; hard: number }>;
  if (nofile === undefined) base = DEFAULT_RLIMITS.map((r) => ({ ...r }));
  else if (!Number.isSafeInteger(nofile) || nofile < 64) throw invalidArgument(`invalid open-files limit ${nofile}: use a whole number of at least 64`);
  else base = [{ type: 'RLIMIT_NOFILE', soft: nofile, hard: nofile }];
  for (const u of ulimits) {
    const type = `RLIMIT_${u.name.toUpperCase()}`;
    if (!/^RLIMIT_[A-Z]+$/.test(type)) throw invalidArgument(`invalid ulimit type ${JSON.stringify(u.name)}`);
    base = [...base.filter((r) => r.type !== type), { type, soft: u.soft, hard: u.hard }];
  }
  return base;
}

/** The size option of /dev/shm: 64 MiB, or shmSizeBytes rounded up to whole KiB. */
function shmSizeOption(shmSizeBytes: number | undefined): string {
  if (shmSizeBytes === undefined || shmSizeBytes === 0) return 'size=65536k';
  if (!Number.isSafeInteger(shmSizeBytes) || shmSizeBytes < 0) throw invalidArgument(`invalid /dev/shm size ${shmSizeBytes}: use a whole number of bytes`);
  return `size=${Math.ceil(shmSizeBytes / 1024)}k`;
}

function specMounts(options: RuntimeSpecOptions): SpecMount[] {
  const sharesHostNetwork = options.network === 'host';
  const mounts: SpecMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', shmSizeOption(options.shmSizeBytes)] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // A user namespace may not mount sysfs for a network namespace it does not own: bind the host's, read-only.
    options.userNamespace !== undefined && sharesHostNetwork
      ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
  const files: [keyof ContainerFiles, string][] = [
    ['hosts', '/etc/hosts'],
    ['hostname', '/etc/hostname'],
    ['resolvConf', '/etc/resolv.conf'],
  ];
  for (const [key, destination] of files) {
    const source = options.files?.[key];
    checkHostFile(source, `files.${key}`);
    if (source !== undefined) mounts.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec'] });
  }
  return mounts;
}

/** Docker's default options of a tmpfs, before its own. */
const TMPFS_DEFAULTS = ['noexec', 'nosuid', 'nodev', 'rprivate'];
const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);
const NEGATABLE = new Set(['exec', 'suid', 'dev', 'atime', 'diratime', 'relatime', 'strictatime', 'mand']);

/** What an option sets, so that a later option setting the same thing replaces it (`exec` after `noexec`, `size=`). */
function optionGroup(option: string): string {
  const eq = option.indexOf('=');
  if (eq >= 0) return option.slice(0, eq);
  if (option === 'ro' || option === 'rw') return 'rw';
  if (PROPAGATIONS.has(option)) return 'propagation';
  return option.startsWith('no') && NEGATABLE.has(option.slice(2)) ? option.slice(2) : option;
}

/** Options in order, each replacing an earlier one of its group (Docker's MergeTmpfsOptions). */
function mergeOptions(options: readonly string[]): string[] {
  const byGroup = new Map<string, string>();
  for (const option of options) {
    const group = optionGroup(option);
    byGroup.delete(group);
    byGroup.set(group, option);
  }
  return [...byGroup.values()];
}

/** Docker's size text of a tmpfs: the largest of g, m, k that divides it, or bytes. */
function sizeText(bytes: number): string {
  for (const [suffix, unit] of [['g', 1 << 30], ['m', 1 << 20], ['k', 1 << 10]] as const) if (bytes % unit === 0) return `${bytes / unit}${suffix}`;
  return String(bytes);
}

function userMount(m: UserMount): SpecMount {
  const destination = m.destination;
  if (typeof destination !== 'string' || !isAbsolute(destination) || destination.includes('\0')) {
    throw invalidArgument(`invalid mount destination "${String(destination)}": it must be an absolute path`);
  }
  if (m.type === 'bind') {
    checkHostFile(m.source, `the source of the mount on ${destination}`);
    return { destination, type: 'bind', source: m.source, options: ['rbind', ...(m.readOnly ? ['ro'] : []), 'rprivate'] };
  }
  const own = [
    ...(m.readOnly ? ['ro'] : []),
    ...(m.mode === undefined ? [] : [`mode=${m.mode.toString(8)}`]),
    ...(m.sizeBytes === undefined ? [] : [`size=${sizeText(m.sizeBytes)}`]),
    ...(m.options === undefined || m.options === '' ? [] : m.options.split(',')),
  ];
  if (own.some((o) => o.includes('\0'))) throw invalidArgument(`invalid options of the tmpfs on ${destination}: an option contains a NUL byte`);
  return { destination, type: 'tmpfs', source: 'tmpfs', options: mergeOptions([...TMPFS_DEFAULTS, ...own]) };
}

/**
 * The default mounts with the user's after them, parents before children
 * (Docker sorts by path depth); a default mount whose destination a user
 * mount takes is left out.
 */
function withUserMounts(defaults: SpecMount[], mounts: readonly UserMount[] | undefined): SpecMount[] {
  if (mounts === undefined || mounts.length === 0) return defaults;
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  const own = mounts.map(userMount).sort((a, b) => depth(a.destination) - depth(b.destination));
  const taken = new Set(own.map((m) => m.destination));
  return [...defaults.filter((m) => !taken.has(m.destination)), ...own];
}

function specNamespaces(options: RuntimeSpecOptions): SpecNamespace[] {
  const namespaces: SpecNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  const network = options.network;
  if (network === 'none') namespaces.push({ type: 'network' });
  else if (network !== 'host') {
    if (typeof network !== 'object' || typeof network.path !== 'string' || !isAbsolute(network.path) || network.path.includes('\0')) {
      throw invalidArgument('invalid network namespace: use "host", "none" or { path: an absolute path such as /var/run/netns/NAME }');
    }
    namespaces.push({ type: 'network', path: network.path });
  }
  if (options.userNamespace !== undefined) namespaces.push({ type: 'user' });
  if (options.cgroupNamespace === true) namespaces.push({ type: 'cgroup' });
  return namespaces;
}

function checkCgroupsPath(path: string): void {
  const ok = typeof path === 'string' && path !== '' && !path.includes('\0') && !path.split(/[/:]/).includes('..');
  if (!ok) throw invalidArgument(`invalid cgroups path "${String(path)}": use an absolute path or slice:prefix:name without ".."`);
}

/** The host uid and gid that a user namespace maps container root to (0:0 without one). */
function mappedRoot(userns: UserNamespaceMappings | undefined): { uid: number; gid: number } | undefined {
  if (userns === undefined) return undefined;
  const map = (maps: readonly IdMapping[], what: string) => {
    const m = maps.find((x) => x.containerID === 0);
    if (m === undefined) throw invalidArgument(`${what} must map container id 0`);
    return m.hostID;
  };
  return { uid: map(userns.uidMappings, 'userNamespace.uidMappings'), gid: map(userns.gidMappings, 'userNamespace.gidMappings') };
}

/**
 * Builds a container's OCI runtime spec (config.json) from the image's run
 * configuration and the run options, with hardened defaults: Docker's
 * default capabilities ({@link DEFAULT_CAPABILITIES}; inheritable and
 * ambient empty), no_new_privileges, {@link defaultSeccompProfile},
 * {@link DEFAULT_MASKED_PATHS} and {@link DEFAULT_READONLY_PATHS}, the
 * device allow-list {@link DEFAULT_DEVICE_RULES}, {@link DEFAULT_RLIMITS},
 * a pids limit ({@link DEFAULT_PIDS_LIMIT} by default), oomScoreAdj unset;
 * namespaces pid, ipc, uts, mount and network (unless `host`), user with
 * mappings, cgroup on request; mounts for /proc, /dev, /dev/pts, /dev/shm,
 * /dev/mqueue, /sys (ro), /sys/fs/cgroup (ro) and bind mounts of the given
 * /etc/hosts, /etc/hostname and /etc/resolv.conf; then the user's mounts
 * (see {@link UserMount}), parents first.
 *
 * It reads the rootfs (hostile input): the user is resolved against its
 * /etc/passwd and /etc/group ({@link resolveUser}); and it writes to it:
 * the working directory is created when missing ({@link prepareWorkingDir}).
 * The image's StopSignal is recorded in the {@link STOP_SIGNAL_ANNOTATION}
 * annotation.
 *
 * Raises InvalidArgument, with a sentence naming the culprit, for: no
 * command, a bad container id, hostname, environment entry, working
 * directory (relative, or under /proc, /sys or /dev), user or group that
 * the image does not know, limits, cgroups path, network namespace, id
 * mappings, host file paths, mount paths, stop signal, and unreadable
 * passwd/group files.
 */
export async function buildRuntimeSpec(options: RuntimeSpecOptions): Promise<RuntimeSpec> {
  if (typeof options.containerId !== 'string' || !CONTAINER_ID.test(options.containerId)) {
    throw invalidArgument(`invalid container id "${String(options.containerId)}": use up to 128 letters, digits, '_', '.' and '-'`);
  }
  if (typeof options.rootfs !== 'string' || !isAbsolute(options.rootfs)) throw invalidArgument('rootfs must be an absolute host path');
  checkCgroupsPath(options.cgroupsPath);
  const image = options.image;
  const args = processArgs(image, options.args, options.entrypoint);
  const hostname = options.hostname ?? options.containerId.slice(0, 12);
  checkHostname(hostname);
  if (options.userNamespace !== undefined) {
    checkMappings(options.userNamespace.uidMappings, 'userNamespace.uidMappings');
    checkMappings(options.userNamespace.gidMappings, 'userNamespace.gidMappings');
  }
  const caps = containerCapabilities(options.capabilities?.add, options.capabilities?.drop);
  const namespaces = specNamespaces(options);
  const resources = specResources(options.resources);
  const mounts = withUserMounts(specMounts(options), options.mounts);
  const stopSignal = parseStopSignal(image?.StopSignal);
  const tty = options.tty === true;

  // The user and the working directory are looked up side by side; a bad user is reported first.
  const resolving = (options.resolveUser ?? resolveUser)(options.rootfs, options.user ?? image?.User ?? '');
  const preparing = prepareWorkingDir(options.rootfs, options.workingDir || image?.WorkingDir || '/', mappedRoot(options.userNamespace));
  preparing.catch(() => undefined);
  const user: ResolvedUser = await resolving;
  const env = processEnv(image?.Env, options.env, { hostname, home: user.home, tty });
  const cwd = await preparing;

  const process: SpecProcess = {
    terminal: tty,
    user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length > 0 ? { additionalGids: user.additionalGids } : {}) },
    args,
    env,
    cwd,
    capabilities: defaultCapabilities(caps),
    rlimits: specRlimits(options.nofileLimit, options.ulimits),
    noNewPrivileges: true,
  };
  const seccomp = seccompOf(options.seccomp, caps, options.imageArchitecture);
  return {
    ociVersion: OCI_VERSION,
    process,
    root: { path: options.rootfs, readonly: options.readOnlyRoot === true },
    hostname,
    mounts,
    linux: {
      namespaces,
      ...(options.userNamespace === undefined
        ? {}
        : { uidMappings: options.userNamespace.uidMappings.map((m) => ({ ...m })), gidMappings: options.userNamespace.gidMappings.map((m) => ({ ...m })) }),
      cgroupsPath: options.cgroupsPath,
      resources,
      ...(seccomp === undefined ? {} : { seccomp }),
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
    annotations: { ...options.annotations, [STOP_SIGNAL_ANNOTATION]: stopSignal },
  };
}

/** The filter of a container: see RuntimeSpecOptions.seccomp; undefined for none. */
function seccompOf(option: RuntimeSpecOptions['seccomp'], capabilities: readonly string[], imageArchitecture: string | undefined): SeccompProfile | undefined {
  if (option === 'unconfined') return undefined;
  if (option === undefined) return defaultSeccompProfile({ capabilities, ...(imageArchitecture === undefined ? {} : { imageArchitecture }) });
  if ('json' in option) return resolveSeccompProfile(parseSeccompProfile(option.json), { capabilities, kernel: release() });
  return option;
}

/** Settings of {@link buildExecProcess}: what `exec` may change. */
export interface ExecProcessOptions {
  /** The command; required, not empty. */
  args: string[];
  /** `KEY=value` entries overriding the container's environment. */
  env?: string[];
  /** Working directory; the container's when unset. Must exist. */
  workingDir?: string;
  /** User spec; the container's user when unset. */
  user?: string;
  tty?: boolean;
}

/**
 * The process of an `exec` into a running container (for `runc exec
 * --process`), derived from the container's spec: same capabilities,
 * rlimits and no_new_privileges; its environment with options.env on top
 * (HOME follows a changed user unless set; TERM=xterm with a terminal);
 * the user resolved against rootfs like {@link buildRuntimeSpec}; the
 * working directory checked like {@link checkWorkingDir} and resolved
 * inside rootfs, never created. Raises InvalidArgument for an empty
 * command, a bad environment entry, user or working directory, and a
 * working directory that does not exist.
 */
export async function buildExecProcess(container: RuntimeSpec, rootfs: string, options: ExecProcessOptions): Promise<SpecProcess> {
  if (options.args.length === 0 || options.args[0] === '') throw invalidArgument('no command specified: give the command to execute');
  if (options.args.some((a) => a.includes('\0'))) throw invalidArgument('invalid command: an argument contains a NUL byte');
  const base = container.process;
  const tty = options.tty === true;
  let user = base.user;
  const env = [...base.env];
  for (const entry of options.env ?? []) {
    checkEnv(entry, 'the options');
    setEnv(env, entry);
  }
  if (options.user !== undefined) {
    const resolved = await resolveUser(rootfs, options.user);
    user = { uid: resolved.uid, gid: resolved.gid, ...(resolved.additionalGids.length > 0 ? { additionalGids: resolved.additionalGids } : {}) };
    if (!(options.env ?? []).some((e) => envKey(e) === 'HOME')) setEnv(env, `HOME=${resolved.home}`);
  }
  if (tty && !env.some((e) => envKey(e) === 'TERM')) env.push('TERM=xterm');
  let cwd = base.cwd;
  if (options.workingDir !== undefined) {
    const cleaned = checkWorkingDir(options.workingDir);
    const what = `working directory "${options.workingDir}"`;
    const found = await resolveInRoot(await realpath(rootfs), cleaned, what);
    refuseRuntimeMounts(options.workingDir, found.components);
    if (!found.exists) throw invalidArgument(`${what} does not exist in the container`);
    await assertDirectory(found.hostPath, what);
    cwd = `/${found.components.join('/')}`;
  }
  return {
    ...base,
    terminal: tty,
    user: { ...user, ...(user.additionalGids === undefined ? {} : { additionalGids: [...user.additionalGids] }) },
    args: [...options.args],
    env,
    cwd,
    capabilities: {
      bounding: [...base.capabilities.bounding],
      effective: [...base.capabilities.effective],
      permitted: [...base.capabilities.permitted],
      inheritable: [...base.capabilities.inheritable],
      ambient: [...base.capabilities.ambient],
    },
    rlimits: base.rlimits.map((r) => ({ ...r })),
  };
}
