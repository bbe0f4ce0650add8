import { isIPv4, isIPv6 } from 'node:net';
import { invalidArgument } from '@strata/kit';

/**
 * Credentials of one upstream: a user name and password (sent as HTTP basic
 * auth to the upstream on a `Basic` challenge, and to its token realm on a
 * `Bearer` challenge), or a ready bearer token (sent as is to the upstream on
 * a `Bearer` challenge; no token realm is asked).
 */
export type UpstreamCredentials = { username: string; password: string } | { token: string };

/** One upstream registry the client may talk to. */
export interface UpstreamConfig {
  /**
   * The registry host as references name it, with an optional port:
   * `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`.
   */
  host: string;
  /**
   * Base URL of the registry's API when it is not `https://<host>` (an origin
   * only: scheme, host, port). `docker.io` and `index.docker.io` default to
   * `https://registry-1.docker.io`, like Docker.
   */
  endpoint?: string;
  /**
   * Allow plain HTTP to a host that is not a loopback address. Without an
   * endpoint, an insecure upstream is reached over `http://<host>`.
   */
  insecure?: boolean;
  /** Credentials, used for this upstream (and its token realm) only. */
  credentials?: UpstreamCredentials;
  /** PEM certificate(s) of a CA to trust for HTTPS, in addition to the system's. */
  ca?: string | Uint8Array;
  /**
   * Let redirects and token realms point at loopback, private or reserved
   * addresses (a private registry whose storage sits on a private network).
   * Off by default, except for a loopback upstream, which may always send the
   * client to other loopback or private addresses.
   */
  allowPrivateHosts?: boolean;
}

/** An {@link UpstreamConfig} checked and with its defaults filled in. */
export interface ResolvedUpstream {
  /** The host as configured, lower-cased. */
  host: string;
  /** The API's origin (`https://registry-1.docker.io`). */
  baseUrl: URL;
  /** True when the endpoint is on a loopback address (127.0.0.0/8, ::1, localhost). */
  loopback: boolean;
  /** True when redirect targets and token realms may be non-public addresses. */
  allowPrivateHosts: boolean;
  credentials: UpstreamCredentials | undefined;
  ca: string | Uint8Array | undefined;
}

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io']);
const DOCKER_HUB_ENDPOINT = 'https://registry-1.docker.io';

/** True when hostname (as `URL.hostname` gives it, IPv6 in brackets or not) is a loopback address or `localhost`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return true;
  if (isIPv4(lower)) return lower.startsWith('127.');
  if (isIPv6(lower)) return lower === '::1' || lower === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(lower);
  return false;
}

/**
 * Checks an upstream's configuration and fills in its defaults. The API
 * endpoint is `endpoint` when given, else `https://registry-1.docker.io` for
 * Docker Hub, else `http://<host>` for a loopback host or an insecure one,
 * else `https://<host>`. Like Docker, a loopback upstream may use plain
 * HTTP without configuration; any other needs `insecure: true`.
 * Raises InvalidArgument with a sentence naming the upstream for a malformed
 * host or endpoint, an endpoint with a path, query or credentials, empty
 * credentials, and plain HTTP to a non-loopback host that is not insecure.
 */
export function resolveUpstream(config: UpstreamConfig): ResolvedUpstream {
  const shown = JSON.stringify(String(config.host).slice(0, 200));
  let host: string;
  try {
    const parsed = new URL(`https://${config.host}`);
    host = parsed.host;
    if (config.host === '' || host !== config.host.toLowerCase() || parsed.pathname !== '/' || parsed.username !== '') throw new Error('not a host');
  } catch {
    throw invalidArgument(`upstream host ${shown} is not a host name or address with an optional port`, { fields: { upstream: String(config.host).slice(0, 200) } });
  }
  const fields = { upstream: host };
  let baseUrl: URL;
  if (config.endpoint !== undefined) {
    const endpointShown = JSON.stringify(config.endpoint.slice(0, 200));
    try {
      baseUrl = new URL(config.endpoint);
    } catch {
      throw invalidArgument(`upstream ${host}: endpoint ${endpointShown} is not a URL`, { fields });
    }
    if (baseUrl.protocol !== 'https:' && baseUrl.protocol !== 'http:') {
      throw invalidArgument(`upstream ${host}: endpoint ${endpointShown} must be an http or https URL`, { fields });
    }
    if (baseUrl.username !== '' || baseUrl.password !== '') {
      throw invalidArgument(`upstream ${host}: endpoint ${endpointShown} must not carry credentials; set credentials instead`, { fields });
    }
    if ((baseUrl.pathname !== '/' && baseUrl.pathname !== '') || baseUrl.search !== '' || baseUrl.hash !== '') {
      throw invalidArgument(`upstream ${host}: endpoint ${endpointShown} must be an origin (scheme, host and port) without a path or query`, {
        fields,
      });
    }
  } else if (DOCKER_HUB_HOSTS.has(host)) {
    baseUrl = new URL(DOCKER_HUB_ENDPOINT);
  } else {
    baseUrl = new URL(`${isLoopbackHost(new URL(`http://${host}`).hostname) || config.insecure === true ? 'http' : 'https'}://${host}`);
  }
  const loopback = isLoopbackHost(baseUrl.hostname);
  if (baseUrl.protocol === 'http:' && !loopback && config.insecure !== true) {
    throw invalidArgument(
      `upstream ${host}: plain HTTP to ${baseUrl.host} refused; only loopback upstreams may use http:// without "insecure: true" in their configuration`,
      { fields },
    );
  }
  const credentials = config.credentials;
  if (credentials !== undefined) {
    const empty = 'token' in credentials ? credentials.token === '' : credentials.username === '';
    if (empty) throw invalidArgument(`upstream ${host}: credentials need a user name or a token`, { fields });
  }
  return {
    host,
    baseUrl: new URL(baseUrl.origin),
    loopback,
    allowPrivateHosts: config.allowPrivateHosts === true || loopback,
    credentials,
    ca: config.ca,
  };
}
