import { invalidArgument } from '@strata/kit';
import { normalizePlatform, parsePlatform, parseReference, type Platform, type Reference } from '@strata/oci';
import { LOCAL_DOMAIN } from '@strata/registry-http';

/** The path prefix of the mirror's local (pushed) repositories, as the HTTP API routes them. */
export const LOCAL_REPOSITORY_PREFIX = 'local/';

/** Where a reference's repository lives: its key in the image index, and how the registry backend names it. */
export interface RepositoryLocation {
  /** TagStore domain: the registry host, or `local` for the mirror's own repositories. */
  domain: string;
  /** TagStore repository path. */
  repository: string;
  /** The name to ask the RegistryBackend for. */
  backendName: string;
  /** containerd's `ns=`: the registry host, for repositories of an upstream (absent for local ones). */
  ns?: string;
}

/**
 * How the service spells names: `localDomains[0]` is the host under which
 * the mirror's local repositories (`local/…`, TagStore domain `local`) are
 * shown, e.g. `127.0.0.1:5050/local/app:v1`; a reference in any of
 * localDomains whose path starts with `local/` names a local repository.
 */
export interface ImageNaming {
  localDomains: readonly string[];
}

/** Where ref's repository lives (see {@link ImageNaming}). */
export function locate(ref: Reference, naming: ImageNaming): RepositoryLocation {
  if (naming.localDomains.includes(ref.domain) && ref.path.startsWith(LOCAL_REPOSITORY_PREFIX)) {
    return { domain: LOCAL_DOMAIN, repository: ref.path, backendName: ref.path };
  }
  return { domain: ref.domain, repository: ref.path, backendName: ref.path, ns: ref.domain };
}

/** The repository as people read it, `domain/path`, with local repositories under localDomains[0]. */
export function repositoryName(domain: string, repository: string, naming: ImageNaming): string {
  return `${domain === LOCAL_DOMAIN ? (naming.localDomains[0] ?? LOCAL_DOMAIN) : domain}/${repository}`;
}

/** What a ref of Inspect, History, Tag's source or Delete names: a reference, an image id (prefix), or either. */
export interface ImageRef {
  /** The parsed reference, unless text is only an image id. */
  ref?: Reference;
  /** Lower-case hex of an image id or a prefix of at least 12 characters, when text may be one. */
  idPrefix?: string;
}

const FULL_ID = /^(?:sha256:)?([a-f0-9]{64})$/;
const ID_PREFIX = /^(sha256:)?([a-f0-9]{12,63})$/;

/**
 * Parses a ref that names an existing image: `sha256:<hex>` or 64 hex
 * characters are an image id; `sha256:` and 12 to 63 hex characters a
 * prefix of one; 12 to 63 hex characters alone may be a prefix or a
 * repository name (the name is tried first, as Docker does). Anything else
 * is a reference, parsed with parseReference: InvalidArgument with
 * Docker's text when it is malformed.
 */
export function parseImageRef(text: string): ImageRef {
  const full = FULL_ID.exec(text);
  if (full !== null) return { idPrefix: full[1] as string };
  const prefix = ID_PREFIX.exec(text);
  if (prefix !== null && prefix[1] !== undefined) return { idPrefix: prefix[2] as string };
  const ref = parseReference(text);
  return prefix === null ? { ref } : { ref, idPrefix: prefix[2] as string };
}

/** A platform of a request: os, architecture and variant, empty when not given. */
export interface PlatformRequest {
  os: string;
  architecture: string;
  variant: string;
}

/**
 * The platform a request asks for, normalized: host when it gives none,
 * the host's os or architecture for the one it leaves empty.
 * InvalidArgument for a malformed platform (parsePlatform's text) or a
 * variant without an architecture.
 */
export function requestedPlatform(requested: PlatformRequest | undefined, host: Platform): { platform: Platform; explicit: boolean } {
  if (requested === undefined || (requested.os === '' && requested.architecture === '' && requested.variant === '')) {
    return { platform: normalizePlatform(host), explicit: false };
  }
  if (requested.architecture === '' && requested.variant !== '') {
    throw invalidArgument(`invalid platform: variant ${JSON.stringify(requested.variant.slice(0, 50))} needs an architecture, e.g. linux/arm/v7`);
  }
  const os = requested.os === '' ? host.os : requested.os;
  const architecture = requested.architecture === '' ? host.architecture : requested.architecture;
  const text = [os, architecture, requested.architecture === '' ? (host.variant ?? '') : requested.variant].filter((p) => p !== '').join('/');
  return { platform: parsePlatform(text, host), explicit: true };
}
