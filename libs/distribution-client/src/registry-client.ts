import { failedPrecondition, invalidArgument, type Logger } from '@strata/kit';
import { createUpstream, type Upstream } from './upstream.js';
import { resolveUpstream, type UpstreamConfig } from './upstream-config.js';

/** Settings of {@link createRegistryClient}. */
export interface RegistryClientOptions {
  /** The upstreams the client may talk to; no other host is ever contacted on a caller's behalf. */
  upstreams: readonly UpstreamConfig[];
  logger: Logger;
  /** Time to a response's headers, and longest pause while a body is read; 30 s by default. */
  fetchTimeoutMs?: number;
  /** `User-Agent` sent to upstreams; `strata-registry-mirror` by default. */
  userAgent?: string;
  /** The clock of the token caches (ms); Date.now by default. */
  now?: () => number;
}

/** The configured upstream registries, by host. */
export interface RegistryClient {
  /**
   * The client of the upstream configured for host (`docker.io` also
   * answers for `index.docker.io` and `registry-1.docker.io` when Docker Hub
   * is configured). FailedPrecondition, naming the configured hosts, when
   * host is not configured: the mirror reaches only the upstreams it was
   * given.
   */
  upstream(host: string): Upstream;
  /** The configured hosts. */
  hosts(): string[];
  /** Ends every upstream's keep-alive connections. */
  close(): void;
}

const DOCKER_HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/**
 * Creates one {@link Upstream} per configured upstream (each with its own
 * credentials, token cache and connections). Raises InvalidArgument for an
 * upstream {@link resolveUpstream} refuses, or a host configured twice.
 */
export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const byHost = new Map<string, Upstream>();
  const all: Upstream[] = [];
  for (const config of options.upstreams) {
    const { host } = resolveUpstream(config);
    const names = DOCKER_HUB_ALIASES.includes(host) ? DOCKER_HUB_ALIASES : [host];
    if (byHost.has(host)) throw invalidArgument(`upstream ${host} is configured twice`, { fields: { upstream: host } });
    const upstream = createUpstream(config, {
      logger: options.logger,
      ...(options.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: options.fetchTimeoutMs }),
      ...(options.userAgent === undefined ? {} : { userAgent: options.userAgent }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    all.push(upstream);
    for (const name of names) if (!byHost.has(name) || name === host) byHost.set(name, upstream);
  }
  const hosts = all.map((u) => u.host);
  return {
    upstream(host) {
      const found = byHost.get(String(host).toLowerCase());
      if (found === undefined) {
        throw failedPrecondition(
          `upstream registry ${JSON.stringify(String(host).slice(0, 200))} is not configured; configured: ${hosts.length === 0 ? 'none' : hosts.join(', ')}`,
          { fields: { upstream: String(host).slice(0, 200) } },
        );
      }
      return found;
    },
    hosts: () => [...hosts],
    close() {
      for (const upstream of all) upstream.close();
    },
  };
}
