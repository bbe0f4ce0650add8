import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { invalidArgument } from '@strata/kit';
import { isIPv4 } from './subnet.js';

/** A transport protocol a port can be published for. */
export type Protocol = 'tcp' | 'udp';

/** The host address that means "every address of the host". */
export const ALL_ADDRESSES = '0.0.0.0';

/** One `-p` request: host address and port (0 = pick a free one) to the container's port. */
export interface PortMapping {
  /** IPv4 address of the host to publish on; {@link ALL_ADDRESSES} for all of them (including 127.0.0.1). */
  hostIp: string;
  /** Host port, 1–65535, or 0 to have a free one picked. */
  hostPort: number;
  /** Port inside the container, 1–65535. */
  containerPort: number;
  protocol: Protocol;
}

/** A published port as set up: like {@link PortMapping} with the host port picked. */
export interface PublishedPort extends PortMapping {
  hostPort: number;
}

function port(text: string, what: string, spec: string, allowZero: boolean): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n > 65535 || (n === 0 && !allowZero)) {
    throw invalidArgument(`invalid port mapping ${JSON.stringify(spec)}: ${what} ${JSON.stringify(text)} is not a port number (1-65535${allowZero ? ', or 0 to pick one' : ''})`);
  }
  return n;
}

/**
 * Parses a `-p` argument the way `docker run -p` reads it:
 * `CTR`, `HOST:CTR`, `IP:HOST:CTR` or `IP::CTR`, each optionally followed by
 * `/tcp` (the default) or `/udp`. A missing or zero host port means "pick a
 * free one". Only IPv4 host addresses; no port ranges. Raises
 * InvalidArgument naming what is wrong.
 */
export function parsePortMapping(spec: string): PortMapping {
  let body = spec;
  let protocol: Protocol = 'tcp';
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    const proto = spec.slice(slash + 1);
    if (proto !== 'tcp' && proto !== 'udp') {
      throw invalidArgument(`invalid port mapping ${JSON.stringify(spec)}: protocol must be tcp or udp, not ${JSON.stringify(proto)}`);
    }
    protocol = proto;
    body = spec.slice(0, slash);
  }
  if (body.includes('[')) throw invalidArgument(`invalid port mapping ${JSON.stringify(spec)}: IPv6 host addresses are not supported`);
  if (/\d-\d/.test(body)) throw invalidArgument(`invalid port mapping ${JSON.stringify(spec)}: port ranges are not supported`);
  const parts = body.split(':');
  let hostIp = ALL_ADDRESSES;
  let hostText = '0';
  let ctrText: string;
  if (parts.length === 1) {
    ctrText = parts[0] ?? '';
  } else if (parts.length === 2) {
    hostText = parts[0] ?? '';
    ctrText = parts[1] ?? '';
  } else if (parts.length === 3) {
    hostIp = parts[0] ?? '';
    hostText = parts[1] === '' ? '0' : (parts[1] ?? '');
    ctrText = parts[2] ?? '';
    if (!isIPv4(hostIp)) throw invalidArgument(`invalid port mapping ${JSON.stringify(spec)}: ${JSON.stringify(hostIp)} is not an IPv4 address`);
  } else {
    throw invalidArgument(`invalid port mapping ${JSON.stringify(spec)}: expected [[IP:]HOST:]CONTAINER[/tcp|udp]`);
  }
  return {
    hostIp,
    hostPort: port(hostText, 'host port', spec, true),
    containerPort: port(ctrText, 'container port', spec, false),
    protocol,
  };
}

/** Formats a mapping the way `docker ps` shows it: `0.0.0.0:8080->80/tcp`. */
export function formatPublishedPort(p: PortMapping): string {
  return `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

/** True when the two mappings would claim the same host port: same protocol and port, and one address covers the other. */
export function portsCollide(a: PortMapping, b: PortMapping): boolean {
  return (
    a.protocol === b.protocol &&
    a.hostPort === b.hostPort &&
    (a.hostIp === b.hostIp || a.hostIp === ALL_ADDRESSES || b.hostIp === ALL_ADDRESSES)
  );
}

/**
 * Binds hostIp:port (port 0: one the kernel picks from the ephemeral range)
 * for protocol, and releases it: resolves with the bound port, or with the
 * error code (`EADDRINUSE` when another socket holds it, `EADDRNOTAVAIL` when
 * hostIp is not an address of this host).
 */
export function probeHostPort(hostIp: string, port: number, protocol: Protocol): Promise<number | string> {
  return new Promise((resolve) => {
    const failed = (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message);
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', (err) => {
        socket.close();
        failed(err);
      });
      socket.bind({ address: hostIp, port, exclusive: true }, () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
      return;
    }
    const server = createServer();
    server.once('error', failed);
    server.listen({ host: hostIp, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      server.close(() => resolve(bound));
    });
  });
}
