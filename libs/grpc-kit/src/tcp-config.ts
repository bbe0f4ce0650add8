import { readFileSync } from 'node:fs';
import { invalidArgument, optionalStr, type Setting } from '@strata/kit';
import type { TlsMaterial } from './server.js';

/** A TCP endpoint: a host name or IP address (IPv6 without brackets) and a port. */
export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/**
 * Reads `host:port` or `[v6]:port`. Raises InvalidArgument naming the
 * setting `name` when raw is not that or the port is not 1-65535.
 */
export function parseHostPort(raw: unknown, name: string): HostPort {
  const m = typeof raw === 'string' ? HOST_PORT.exec(raw.trim()) : null;
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65_535) {
    throw invalidArgument(`config ${name}: expected host:port (e.g. 0.0.0.0:7443 or [::]:7443), got ${JSON.stringify(raw)}`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An optional `host:port` setting (see {@link parseHostPort}). */
export function hostPort(description: string, options: { env?: string } = {}): Setting<HostPort | undefined> {
  return { description, ...options, default: undefined, parse: parseHostPort };
}

/**
 * The settings of a service's TCP listener with mutual TLS: `--tcp-listen
 * HOST:PORT` (environment tcpEnv) and `--tls-cert`, `--tls-key`, `--tls-ca`
 * (STRATA_TLS_CERT, STRATA_TLS_KEY, STRATA_TLS_CA). Spread into a config spec
 * and pass what it loads to {@link readTcpListener}.
 */
export function tcpListenerSpec(tcpEnv: string) {
  return {
    tcpListen: hostPort('Also serve on TCP at host:port, with mutual TLS (needs --tls-cert, --tls-key, --tls-ca).', { env: tcpEnv }),
    tlsCert: optionalStr('PEM certificate chain of the TCP listener.', { env: 'STRATA_TLS_CERT' }),
    tlsKey: optionalStr('PEM private key of the TCP listener.', { env: 'STRATA_TLS_KEY' }),
    tlsCa: optionalStr('PEM CA certificate that signs the clients allowed on TCP.', { env: 'STRATA_TLS_CA' }),
  };
}

/** The loaded settings of {@link tcpListenerSpec}. */
export interface TcpListenerSettings {
  tcpListen?: HostPort | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsCa?: string | undefined;
}

/** A TCP listener with its TLS material read, as createServer's `tcp` takes it. */
export interface TcpListener extends HostPort {
  tls: TlsMaterial;
}

/** Reads a PEM file for the setting `flag`; InvalidArgument naming it and the path when it cannot be read. */
export function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw invalidArgument(`config ${flag}: cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * The TCP listener the settings ask for, with the three PEM files read, or
 * undefined when `--tcp-listen` is unset. Raises InvalidArgument when
 * `--tcp-listen` lacks any of the TLS files (TCP is only served with mutual
 * TLS), when TLS files are set without `--tcp-listen`, or when a file
 * cannot be read.
 */
export function readTcpListener(settings: TcpListenerSettings): TcpListener | undefined {
  const { tcpListen, tlsCert, tlsKey, tlsCa } = settings;
  const given = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (tcpListen === undefined) {
    if (given(tlsCert) || given(tlsKey) || given(tlsCa)) {
      throw invalidArgument('config tls-cert, tls-key and tls-ca are only used with --tcp-listen; set it or remove them');
    }
    return undefined;
  }
  const missing = (
    [
      ['--tls-cert', tlsCert],
      ['--tls-key', tlsKey],
      ['--tls-ca', tlsCa],
    ] as const
  )
    .filter(([, v]) => !given(v))
    .map(([flag]) => flag);
  if (missing.length > 0) throw invalidArgument(`config tcp-listen (TCP is served only with mutual TLS) needs ${missing.join(', ')}`);
  return {
    host: tcpListen.host,
    port: tcpListen.port,
    tls: { cert: readPem(tlsCert as string, 'tls-cert'), key: readPem(tlsKey as string, 'tls-key'), ca: readPem(tlsCa as string, 'tls-ca') },
  };
}
