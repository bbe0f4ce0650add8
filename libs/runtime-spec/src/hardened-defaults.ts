import { readFile } from 'node:fs/promises';
import { invalidArgument } from '@strata/kit';
import type { SpecDeviceRule, SpecRlimit } from './runtime-spec.js';

/** Linux capability numbers (linux/capability.h) by name, without the `CAP_` prefix. */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  LINUX_IMMUTABLE: 9,
  NET_BIND_SERVICE: 10,
  NET_BROADCAST: 11,
  NET_ADMIN: 12,
  NET_RAW: 13,
  IPC_LOCK: 14,
  IPC_OWNER: 15,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_PACCT: 20,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  MKNOD: 27,
  LEASE: 28,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  SETFCAP: 31,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
};

/**
 * Docker's default capability set (14 capabilities, as `CAP_` names): what a
 * container's process gets in its bounding, effective and permitted sets.
 * Everything that administers the host (SYS_ADMIN, NET_ADMIN, SYS_MODULE,
 * SYS_PTRACE, SYS_TIME…) is left out.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/**
 * The capabilities of a container's process with `--cap-add` and
 * `--cap-drop`, as Docker computes them: names in any case, with `CAP_` or
 * not, `ALL` for every one. With `--cap-add ALL`, every capability but the
 * dropped ones; with `--cap-drop ALL`, only the added ones; otherwise the
 * defaults without the dropped ones, then the added ones (an add wins).
 * Exactly DEFAULT_CAPABILITIES when neither is given. InvalidArgument for
 * an unknown name.
 */
export function containerCapabilities(add: readonly string[] = [], drop: readonly string[] = []): string[] {
  if (add.length === 0 && drop.length === 0) return [...DEFAULT_CAPABILITIES];
  const normalize = (flag: string) => (name: string) => {
    const bare = name.trim().toUpperCase().replace(/^CAP_/, '');
    if (bare === 'ALL') return 'ALL';
    if (CAPABILITY_NUMBERS[bare] === undefined) throw invalidArgument(`unknown capability: "${name}" (--${flag})`);
    return `CAP_${bare}`;
  };
  const adds = new Set(add.map(normalize('cap-add')));
  const drops = new Set(drop.map(normalize('cap-drop')));
  const all = Object.entries(CAPABILITY_NUMBERS)
    .sort(([, a], [, b]) => a - b)
    .map(([bare]) => `CAP_${bare}`);
  if (adds.has('ALL')) return all.filter((c) => !drops.has(c));
  if (drops.has('ALL')) return all.filter((c) => adds.has(c));
  const kept = DEFAULT_CAPABILITIES.filter((c) => !drops.has(c));
  return [...kept, ...all.filter((c) => adds.has(c) && !kept.includes(c))];
}

/**
 * The bit mask of a set of capabilities as /proc/PID/status shows it
 * (`CapEff: 00000000a80425fb` for {@link DEFAULT_CAPABILITIES}). Names may
 * carry the `CAP_` prefix or not. Raises InvalidArgument for an unknown name.
 */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const name of names) {
    const bare = name.toUpperCase().replace(/^CAP_/, '');
    const bit = CAPABILITY_NUMBERS[bare];
    if (bit === undefined) throw invalidArgument(`unknown capability ${name}`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/**
 * Paths under /proc and /sys that leak host information or offer host
 * control; runc hides each one (a file by /dev/null, a directory by an
 * empty read-only tmpfs).
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
]);

/** Paths under /proc that runc bind-mounts read-only over themselves. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

/**
 * The device cgroup rules: deny every device, then allow read, write and
 * mknod of the character devices every program may use — null (1:3),
 * zero (1:5), full (1:7), random (1:8), urandom (1:9), tty (5:0),
 * console (5:1), ptmx (5:2) and the pseudo-terminals (136:*). No block
 * device is reachable, and no other device node may be created.
 */
export const DEFAULT_DEVICE_RULES: readonly SpecDeviceRule[] = Object.freeze([
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
] satisfies SpecDeviceRule[]);

/** The open-files limit containers get by default: 1048576 soft and hard, as containerd (Linux's default fs.nr_open). */
export const DEFAULT_NOFILE_LIMIT = 1048576;

/**
 * Resource limits of the container's process: RLIMIT_NOFILE
 * {@link DEFAULT_NOFILE_LIMIT} soft and hard. Other limits are inherited
 * from runc. A runtime without CAP_SYS_RESOURCE cannot raise a hard limit
 * above its own: use {@link grantableNofileLimit} to pick a limit it can set.
 */
export const DEFAULT_RLIMITS: readonly SpecRlimit[] = Object.freeze([
  { type: 'RLIMIT_NOFILE', soft: DEFAULT_NOFILE_LIMIT, hard: DEFAULT_NOFILE_LIMIT },
]);

/**
 * The open-files limit this process (and runc started by it) can give a
 * container: {@link DEFAULT_NOFILE_LIMIT} when it holds CAP_SYS_RESOURCE
 * (bounded by fs.nr_open), otherwise its own hard RLIMIT_NOFILE when that is
 * lower. Reads /proc/self/status, /proc/self/limits and
 * /proc/sys/fs/nr_open; falls back to the default when they cannot be read.
 */
export async function grantableNofileLimit(): Promise<number> {
  const read = (path: string) => readFile(path, 'utf8').catch(() => '');
  const [status, limits, nrOpen] = await Promise.all([read('/proc/self/status'), read('/proc/self/limits'), read('/proc/sys/fs/nr_open')]);
  const ceiling = Math.min(DEFAULT_NOFILE_LIMIT, Number(nrOpen.trim()) || DEFAULT_NOFILE_LIMIT);
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (capEff !== null && (BigInt(`0x${capEff[1]}`) & (1n << BigInt(CAPABILITY_NUMBERS.SYS_RESOURCE!))) !== 0n) return ceiling;
  const hard = /^Max open files\s+\S+\s+(\d+)/m.exec(limits);
  return hard === null ? ceiling : Math.min(ceiling, Number(hard[1]));
}

/**
 * The pids limit when the caller gives none: 4096 tasks (processes and
 * threads), enough for thread-heavy servers (a JVM, tomcat) and low enough
 * that a fork bomb stops long before the host's pid space runs out.
 */
export const DEFAULT_PIDS_LIMIT = 4096;

/** The PATH a container gets when its image sets none (Docker's). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The CFS period for `cpus` limits, in microseconds (100 ms, as Docker). */
export const CPU_PERIOD_US = 100_000;
