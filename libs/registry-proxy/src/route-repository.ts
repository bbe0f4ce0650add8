import { registryError } from '@strata/registry-http';

/** The first path component that sends a repository to the local backend: `local/team/app`. */
export const LOCAL_PREFIX = 'local';

/** Hosts whose single-segment repositories are official images under `library/`. */
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Where a repository is served from. */
export type RepositoryRoute =
  | { kind: 'local'; name: string }
  | {
      kind: 'upstream';
      /** The configured upstream host (the TagStore domain of its tags). */
      host: string;
      /** The repository path at the upstream (`library/busybox`). */
      repository: string;
    };

/** What {@link routeRepository} needs to know. */
export interface RouteOptions {
  /** The configured upstream's canonical host for host (aliases allowed), or undefined when host is not configured. */
  upstreamHost(host: string): string | undefined;
  /** The configured hosts, named in errors. */
  hosts: readonly string[];
  /** The upstream of names that neither ns nor a host prefix places; none: they are local. */
  defaultUpstream?: string;
}

/**
 * Decides where repository name (as the client asked for it, a valid
 * repository path) is served from, in this order:
 * 1. `local/…` is a local repository (pushes allowed), whatever else is set;
 * 2. ns (containerd's `ns=`) names the upstream; the whole name is its
 *    repository. NAME_UNKNOWN when ns is not a configured upstream;
 * 3. a first path component that is a configured upstream host (podman's
 *    `mirror/<host>/<repo>` prefix) names the upstream; the rest is its
 *    repository;
 * 4. else the default upstream, when one is configured;
 * 5. else the repository is local.
 * On Docker Hub, a single-segment repository gets `library/` (`busybox` →
 * `library/busybox`), as Docker resolves it.
 */
export function routeRepository(name: string, ns: string | undefined, options: RouteOptions): RepositoryRoute {
  const slash = name.indexOf('/');
  const first = slash === -1 ? name : name.slice(0, slash);
  if (first === LOCAL_PREFIX && slash !== -1) return { kind: 'local', name };
  const upstream = (host: string, repository: string): RepositoryRoute => ({
    kind: 'upstream',
    host,
    repository: DOCKER_HUB_HOSTS.has(host) && !repository.includes('/') ? `library/${repository}` : repository,
  });
  if (ns !== undefined) {
    const host = options.upstreamHost(ns);
    if (host === undefined) {
      throw registryError(
        'NAME_UNKNOWN',
        `repository ${name} not known: ns=${ns} is not an upstream of this mirror (configured: ${options.hosts.length === 0 ? 'none' : options.hosts.join(', ')})`,
        { detail: { name } },
      );
    }
    return upstream(host, name);
  }
  if (slash !== -1) {
    const host = options.upstreamHost(first);
    if (host !== undefined) return upstream(host, name.slice(slash + 1));
  }
  if (options.defaultUpstream !== undefined) return upstream(options.defaultUpstream, name);
  return { kind: 'local', name };
}
