import { invalidArgument } from '@strata/kit';

/** An IPv4 subnet in CIDR form, with its addresses as 32-bit unsigned integers. */
export interface Subnet {
  /** Canonical CIDR text, e.g. `10.88.0.0/16`. */
  readonly cidr: string;
  /** The network address (host bits zero). */
  readonly network: number;
  readonly prefixLength: number;
  /** The gateway: the first address after the network address, set on the bridge. */
  readonly gateway: number;
  /** The broadcast address (all host bits one). */
  readonly broadcast: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** True when text is a dotted-quad IPv4 address without leading zeros. */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => OCTET.test(p));
}

/**
 * Parses a dotted-quad IPv4 address into an unsigned 32-bit integer.
 * Raises InvalidArgument for anything else.
 */
export function parseIPv4(text: string): number {
  if (!isIPv4(text)) throw invalidArgument(`invalid IPv4 address ${JSON.stringify(text)}`);
  return text.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** Formats an unsigned 32-bit integer as a dotted-quad IPv4 address. */
export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/**
 * Parses an IPv4 CIDR like `10.88.0.0/16`. The prefix length must be 8–30 so
 * there is room for a gateway and containers, and the address must be the
 * network address (no host bits set). Raises InvalidArgument otherwise.
 */
export function parseSubnet(cidr: string): Subnet {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  if (match === null) throw invalidArgument(`invalid subnet ${JSON.stringify(cidr)}: expected an IPv4 CIDR like 10.88.0.0/16`);
  const address = parseIPv4(match[1] ?? '');
  const prefixLength = Number(match[2]);
  if (prefixLength < 8 || prefixLength > 30) {
    throw invalidArgument(`invalid subnet ${JSON.stringify(cidr)}: the prefix length must be between 8 and 30`);
  }
  const size = 2 ** (32 - prefixLength);
  if (address % size !== 0) {
    throw invalidArgument(`invalid subnet ${JSON.stringify(cidr)}: host bits are set; use ${formatIPv4(address - (address % size))}/${prefixLength}`);
  }
  return { cidr: `${formatIPv4(address)}/${prefixLength}`, network: address, prefixLength, gateway: address + 1, broadcast: address + size - 1 };
}

/** True when address lies inside subnet (network and broadcast included). */
export function subnetContains(subnet: Subnet, address: number): boolean {
  return address >= subnet.network && address <= subnet.broadcast;
}

/** True when the two subnets share any address. */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}
