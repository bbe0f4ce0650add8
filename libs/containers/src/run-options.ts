import { isIP } from 'node:net';
import { invalidArgument } from '@strata/kit';

/** A resource limit of the container's process (`--ulimit nofile=1024:2048`); -1 is unlimited. */
export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

/** The limits `--ulimit` names (setrlimit's, without RLIMIT_). */
export const ULIMIT_NAMES: readonly string[] = [
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack',
];

/** The address `--add-host NAME:host-gateway` stands for: the bridge's own. */
export const HOST_GATEWAY = 'host-gateway';

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * An `--add-host` entry, `NAME:IP` or `NAME=IP` (IP v4, v6, or
 * host-gateway), as `NAME:IP`. InvalidArgument naming what is wrong.
 */
export function checkExtraHost(entry: string): string {
  const at = entry.search(/[:=]/);
  const name = at < 0 ? entry : entry.slice(0, at);
  const ip = at < 0 ? '' : entry.slice(at + 1).replace(/^\[(.*)\]$/, '$1');
  if (at < 0 || ip === '') throw invalidArgument(`invalid argument "${entry}" for --add-host: expected HOST:IP`);
  if (!HOST_NAME.test(name) || name.length > 253) throw invalidArgument(`invalid argument "${entry}" for --add-host: invalid host name "${name}"`);
  if (ip !== HOST_GATEWAY && isIP(ip) === 0) throw invalidArgument(`invalid argument "${entry}" for --add-host: invalid IP address "${ip}"`);
  return `${name}:${ip}`;
}

/** A `--dns` server: an IP address. */
export function checkDnsServer(server: string): string {
  if (isIP(server) === 0) throw invalidArgument(`invalid argument "${server}" for --dns: not an IP address`);
  return server;
}

/** A `--dns-search` domain (`.` for none, as Docker). */
export function checkDnsSearch(domain: string): string {
  if (domain !== '.' && (!HOST_NAME.test(domain) || domain.length > 253)) throw invalidArgument(`invalid argument "${domain}" for --dns-search: not a domain name`);
  return domain;
}

/** A `--dns-option`: one resolv.conf option word (`ndots:2`, `rotate`). */
export function checkDnsOption(option: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_:.-]*$/.test(option)) throw invalidArgument(`invalid argument "${option}" for --dns-option: expected one word such as ndots:2`);
  return option;
}

/** `NAME=SOFT[:HARD]` of `--ulimit` (HARD is SOFT when left out; -1 is unlimited). InvalidArgument otherwise. */
export function parseUlimit(text: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (m === null) throw invalidArgument(`invalid ulimit "${text}": expected NAME=SOFT[:HARD], e.g. nofile=1024:2048`);
  return checkUlimit({ name: m[1]!, soft: Number(m[2]), hard: Number(m[3] ?? m[2]) });
}

/** Checks a ulimit's name and values (whole numbers from -1, unlimited, soft not above hard). */
export function checkUlimit(u: Ulimit): Ulimit {
  if (!ULIMIT_NAMES.includes(u.name)) throw invalidArgument(`invalid ulimit type "${u.name}": use one of ${ULIMIT_NAMES.join(', ')}`);
  for (const v of [u.soft, u.hard]) {
    if (!Number.isSafeInteger(v) || v < -1) throw invalidArgument(`invalid ulimit ${u.name}: ${v} is not a whole number from -1 (unlimited)`);
  }
  const rank = (v: number) => (v === -1 ? Infinity : v);
  if (rank(u.soft) > rank(u.hard)) throw invalidArgument(`invalid ulimit ${u.name}: soft limit ${u.soft} is above hard limit ${u.hard}`);
  return { ...u };
}

/** What `--security-opt` asks for: the seccomp filter (the default one when unset). */
export interface SecurityOptions {
  /** `unconfined` for none, or the text of a profile in Docker's format. */
  seccomp?: 'unconfined' | { json: string };
}

/**
 * Docker's `--security-opt` entries, `KEY=VALUE` (or the old `KEY:VALUE`):
 * `seccomp=unconfined`, `seccomp=builtin` (the default profile),
 * `seccomp=` followed by a profile's JSON text (the CLI reads a FILE into
 * it; the text is checked where the spec is built), `no-new-privileges`
 * with nothing, `true` or `1` after it (every container has it).
 * InvalidArgument naming the entry for anything else: `false` for
 * no-new-privileges, AppArmor or SELinux options (this node has neither),
 * a second seccomp entry.
 */
export function parseSecurityOptions(entries: readonly string[] = []): SecurityOptions {
  const out: SecurityOptions = {};
  let seccompSeen = false;
  for (const entry of entries) {
    const at = entry.search(/[=:]/);
    const key = at < 0 ? entry : entry.slice(0, at);
    const value = at < 0 ? undefined : entry.slice(at + 1);
    const shown = entry.length > 80 ? `${entry.slice(0, 80)}…` : entry;
    if (key === 'no-new-privileges') {
      if (value === undefined || value === 'true' || value === '1') continue;
      throw invalidArgument(`invalid --security-opt "${shown}": every container runs with no-new-privileges`);
    }
    if (key === 'seccomp') {
      if (seccompSeen) throw invalidArgument('--security-opt seccomp is given twice');
      seccompSeen = true;
      if (value === 'unconfined') out.seccomp = 'unconfined';
      else if (value?.trimStart().startsWith('{')) out.seccomp = { json: value };
      else if (value !== 'builtin') {
        throw invalidArgument(`invalid --security-opt "${shown}": use seccomp=unconfined, seccomp=builtin or seccomp=PROFILE (a JSON profile; the CLI reads a file)`);
      }
      continue;
    }
    if (key === 'apparmor' || key === 'label') throw invalidArgument(`invalid --security-opt "${shown}": this node has no ${key === 'label' ? 'SELinux' : 'AppArmor'}`);
    throw invalidArgument(`invalid --security-opt "${shown}": use seccomp=… or no-new-privileges`);
  }
  return out;
}

/**
 * Checks the run options of a spec as they come from any client (the
 * gRPC API included): --add-host entries, DNS settings, ulimits (no type
 * twice), the /dev/shm size and the security options' form. InvalidArgument naming the first bad one.
 */
export function checkRunOptions(spec: {
  extraHosts?: readonly string[];
  dns?: { servers: readonly string[]; search: readonly string[]; options: readonly string[] };
  ulimits?: readonly Ulimit[];
  shmSizeBytes?: number;
  securityOpt?: readonly string[];
}): void {
  parseSecurityOptions(spec.securityOpt);
  for (const entry of spec.extraHosts ?? []) checkExtraHost(entry);
  for (const server of spec.dns?.servers ?? []) checkDnsServer(server);
  for (const domain of spec.dns?.search ?? []) checkDnsSearch(domain);
  for (const option of spec.dns?.options ?? []) checkDnsOption(option);
  const seen = new Set<string>();
  for (const u of spec.ulimits ?? []) {
    checkUlimit(u);
    if (seen.has(u.name)) throw invalidArgument(`ulimit ${u.name} is given twice`);
    seen.add(u.name);
  }
  const shm = spec.shmSizeBytes;
  if (shm !== undefined && (!Number.isSafeInteger(shm) || shm < 0)) throw invalidArgument(`invalid /dev/shm size ${shm}: use a whole number of bytes`);
}
