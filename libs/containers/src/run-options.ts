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

/**
 * Checks the run options of a spec as they come from any client (the
 * gRPC API included): --add-host entries, DNS settings, ulimits (no type
 * twice) and the /dev/shm size. InvalidArgument naming the first bad one.
 */
export function checkRunOptions(spec: {
  extraHosts?: readonly string[];
  dns?: { servers: readonly string[]; search: readonly string[]; options: readonly string[] };
  ulimits?: readonly Ulimit[];
  shmSizeBytes?: number;
}): void {
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
