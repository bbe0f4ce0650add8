import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument } from '@strata/kit';

/** Paths of the three files written for a container, to be bind-mounted over its /etc/hosts, /etc/hostname and /etc/resolv.conf. */
export interface EtcFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
}

/** Nameservers used when the host has none a container can reach (Docker's choice). */
export const DEFAULT_NAMESERVERS: readonly string[] = ['8.8.8.8', '8.8.4.4'];

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** Raises InvalidArgument unless name is a valid host name (RFC 1123 labels, at most 253 characters). */
export function validateHostname(name: string): string {
  if (name.length > 253 || !HOSTNAME.test(name)) {
    throw invalidArgument(`invalid hostname ${JSON.stringify(name)}: use letters, digits, '-' and '.' (labels of at most 63 characters)`);
  }
  return name;
}

function isLoopbackNameserver(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/**
 * The resolv.conf a container on a bridge gets from the host's: every line
 * kept except `nameserver` lines naming a loopback address (127.x, ::1),
 * which mean nothing inside the container's network namespace. When no
 * nameserver is left, the fallback nameservers are added.
 */
export function containerResolvConf(hostResolvConf: string, fallback: readonly string[] = DEFAULT_NAMESERVERS): string {
  const lines: string[] = [];
  let nameservers = 0;
  for (const line of hostResolvConf.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === 'nameserver') {
      if (fields[1] === undefined || isLoopbackNameserver(fields[1])) continue;
      nameservers++;
    }
    lines.push(line);
  }
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  if (nameservers === 0) for (const ns of fallback) lines.push(`nameserver ${ns}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The /etc/hosts of a container: localhost entries, the extra entries
 * (`--add-host`, checked by the caller) and hostname → address (127.0.1.1
 * when it has no address of its own).
 */
export function containerHosts(hostname: string, address: string | undefined, extraHosts: readonly HostEntry[] = []): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...extraHosts.map((h) => `${h.ip}\t${h.name}`),
    `${address ?? '127.0.1.1'}\t${hostname}`,
    '',
  ].join('\n');
}

/** One extra /etc/hosts entry. */
export interface HostEntry {
  name: string;
  ip: string;
}

/** Name servers, search domains and options that replace the host's in a container's resolv.conf (each only when given). */
export interface DnsSettings {
  servers: readonly string[];
  /** `.` alone means none. */
  search: readonly string[];
  options: readonly string[];
}

/**
 * resolv.conf with the settings given in dns instead of its own (a setting
 * that is not given keeps resolv.conf's lines), as Docker's `--dns`,
 * `--dns-search` and `--dns-option`. The values are checked by the caller
 * (one word each, no line breaks).
 */
export function withDnsSettings(resolvConf: string, dns: DnsSettings): string {
  const replaced = (key: string | undefined) =>
    (dns.servers.length > 0 && key === 'nameserver') ||
    (dns.search.length > 0 && (key === 'search' || key === 'domain')) ||
    (dns.options.length > 0 && key === 'options');
  const lines = resolvConf.split('\n').filter((line) => !replaced(line.trim().split(/\s+/)[0]));
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  const search = dns.search.filter((d) => d !== '.');
  return `${[
    ...lines,
    ...dns.servers.map((ns) => `nameserver ${ns}`),
    ...(search.length > 0 ? [`search ${search.join(' ')}`] : []),
    ...(dns.options.length > 0 ? [`options ${dns.options.join(' ')}`] : []),
  ].join('\n')}\n`;
}

/** What {@link writeEtcFiles} needs. */
export interface EtcFilesOptions {
  /** Directory to write into; it must exist. */
  dir: string;
  hostname: string;
  /** The container's address; none for `none` and `host` modes. */
  address?: string;
  /** Path of the host's resolv.conf. */
  hostResolvConf: string;
  /** Keep loopback nameservers (the container shares the host's network: `host` mode). */
  keepLoopbackNameservers: boolean;
  fallbackNameservers: readonly string[];
  /** Extra /etc/hosts entries (`--add-host`). */
  extraHosts?: readonly HostEntry[];
  /** resolv.conf settings instead of the host's (`--dns`, `--dns-search`, `--dns-option`). */
  dns?: DnsSettings;
}

/**
 * Writes hosts, hostname and resolv.conf (mode 0644) into options.dir and
 * returns their paths. A missing host resolv.conf counts as empty (the
 * fallback nameservers are used). Raises InvalidArgument for a bad hostname.
 */
export async function writeEtcFiles(options: EtcFilesOptions): Promise<EtcFiles> {
  validateHostname(options.hostname);
  const files: EtcFiles = {
    hosts: join(options.dir, 'hosts'),
    hostname: join(options.dir, 'hostname'),
    resolvConf: join(options.dir, 'resolv.conf'),
  };
  const resolvConf = async () => {
    let hostResolv = '';
    try {
      hostResolv = await readFile(options.hostResolvConf, 'utf8');
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
    const base =
      options.keepLoopbackNameservers && /^\s*nameserver\s/m.test(hostResolv)
        ? hostResolv
        : containerResolvConf(hostResolv, options.fallbackNameservers);
    const resolv = options.dns === undefined ? base : withDnsSettings(base, options.dns);
    await writeFile(files.resolvConf, resolv, { mode: 0o644 });
  };
  // Three small files side by side (each is an open, a write and a close in libuv's pool).
  await Promise.all([
    writeFile(files.hosts, containerHosts(options.hostname, options.address, options.extraHosts), { mode: 0o644 }),
    writeFile(files.hostname, `${options.hostname}\n`, { mode: 0o644 }),
    resolvConf(),
  ]);
  return files;
}
