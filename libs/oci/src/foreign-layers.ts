import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { StrataError } from '@strata/kit';
import type { Descriptor } from './manifest.js';

// Addresses a fetch on behalf of an image must never reach: this host, its
// networks, and the special-purpose ranges of the IANA registries.
const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID…)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/**
 * True when address (an IPv4 or IPv6 literal, without brackets) is a public
 * unicast address: not loopback, private, link-local, carrier-grade NAT,
 * multicast, documentation or otherwise special. IPv4 addresses embedded in
 * IPv6 (`::ffff:10.0.0.1`, NAT64 `64:ff9b::a00:1`) are judged as IPv4.
 * False for anything that is not an IP address. A fetcher checks every
 * address a host name resolves to with it, before it connects.
 */
export function isPublicAddress(address: string): boolean {
  if (isIPv4(address)) return !blocked.check(address, 'ipv4');
  if (!isIPv6(address)) return false;
  const groups = expandIPv6(address);
  if (groups === undefined) return false;
  const embedsIPv4 =
    (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) || // IPv4-mapped
    (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0)); // NAT64
  if (embedsIPv4) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return isPublicAddress(`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`);
  }
  return !blocked.check(address, 'ipv6');
}

/**
 * Checks one foreign-layer URL (CVE-2020-15157) and returns it parsed. The
 * URL must be https, carry no credentials, and name a host of allowList that
 * is not a local name or a non-public address literal. allowList entries are
 * host names, optionally with a port (`example.com:8443`; without one only
 * port 443 matches), or `*.example.com` for any name under example.com.
 * A host name may still resolve to a private address: the fetcher checks
 * resolved addresses with {@link isPublicAddress}, and never sends the
 * registry's credentials to these URLs.
 * Raises PermissionDenied with a sentence saying why the URL is refused.
 */
export function checkLayerUrl(url: string, allowList: readonly string[]): URL {
  const shown = JSON.stringify(url.length > 200 ? `${url.slice(0, 200)}…` : url);
  const refuse = (reason: string) =>
    new StrataError('PermissionDenied', `foreign layer URL ${shown} refused: ${reason}`, { fields: { url: url.slice(0, 200) } });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse('not a valid URL');
  }
  if (parsed.protocol !== 'https:') throw refuse('only https URLs are followed');
  if (parsed.username !== '' || parsed.password !== '') throw refuse('it carries credentials');
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  if (isIPv4(host) || isIPv6(host)) {
    if (!isPublicAddress(host)) throw refuse(`${host} is a loopback, private, link-local or reserved address`);
  } else if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local')) {
    throw refuse(`${host} is a local host name`);
  }
  const port = parsed.port === '' ? '443' : parsed.port;
  if (!allowList.some((entry) => hostMatches(entry, parsed.hostname, port))) {
    throw refuse(`host ${parsed.host} is not in the allow-list of foreign layer hosts`);
  }
  return parsed;
}

/**
 * True when descriptor has foreign `urls` and every one passes
 * {@link checkLayerUrl} against allowList; false otherwise, so by default
 * (an empty allow-list) a layer is fetched only from its registry.
 */
export function layerUrlsAllowed(descriptor: Pick<Descriptor, 'urls'>, allowList: readonly string[]): boolean {
  const urls = descriptor.urls ?? [];
  if (urls.length === 0) return false;
  try {
    for (const url of urls) checkLayerUrl(url, allowList);
    return true;
  } catch {
    return false;
  }
}

function hostMatches(entry: string, hostname: string, port: string): boolean {
  const pattern = entry.trim().toLowerCase();
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(pattern);
  if (m === null) return false;
  const [, patternHost = '', patternPort = '443'] = m;
  if (patternPort !== port) return false;
  if (patternHost.startsWith('*.')) {
    const suffix = patternHost.slice(1);
    return hostname.endsWith(suffix) && hostname.length > suffix.length;
  }
  return patternHost === hostname;
}

function expandIPv6(address: string): number[] | undefined {
  let text = address;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined) {
    const octets = dotted[1].split('.').map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, -dotted[1].length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = [...parse(rest ?? ''), ...tail];
  const missing = 8 - left.length - right.length;
  if (rest === undefined && missing !== 0) return undefined;
  if (missing < 0) return undefined;
  return [...left, ...new Array<number>(missing).fill(0), ...right];
}
