import { invalidArgument } from '@strata/kit';
import { parseDigest, type Digest } from './digest.js';

/** Registry that names without a domain belong to, as in Docker. */
export const DEFAULT_DOMAIN = 'docker.io';
/** Docker Hub's legacy name, normalized to {@link DEFAULT_DOMAIN}. */
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** Prefix of Docker Hub's official images (`busybox` → `library/busybox`). */
export const OFFICIAL_REPOSITORY_PREFIX = 'library/';
/** Tag a reference gets when it names neither a tag nor a digest. */
export const DEFAULT_TAG = 'latest';
/** Most characters in a repository path (the name without its domain), as in Docker. */
export const MAX_REPOSITORY_PATH_LENGTH = 255;

// The grammar of docker/distribution's reference package, written without
// ambiguous repetitions so that no input makes the regular expressions
// backtrack: a separator that may be empty (`[-]*`) is the same language as
// one that may not, because alphanumerics already repeat.
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const REPOSITORY_PATH = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_COMPONENT = '[a-zA-Z0-9]+(?:-+[a-zA-Z0-9]+)*';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST_SHAPE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;

/**
 * A normalized image reference: `domain/path[:tag][@digest]`. A reference
 * parsed without tag or digest has the tag `latest`.
 */
export interface Reference {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path within the registry, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
  /** `domain/path`, the repository's full name. */
  readonly name: string;
  /** The full normalized form, e.g. `docker.io/library/busybox:latest`. */
  toString(): string;
  /** Docker's short form: `busybox:latest`, `user/app@sha256:…`, `localhost:5000/x:1`. */
  familiar(): string;
  /** The same repository with tag (the digest is kept); InvalidArgument for a malformed tag. */
  withTag(tag: string): Reference;
  /** The same repository pinned to digest (the tag is kept); InvalidArgument for a malformed digest. */
  withDigest(digest: string): Reference;
}

class NormalizedReference implements Reference {
  constructor(
    readonly domain: string,
    readonly path: string,
    readonly tag: string | undefined,
    readonly digest: Digest | undefined,
  ) {}

  get name(): string {
    return `${this.domain}/${this.path}`;
  }

  toString(): string {
    return this.suffixed(this.name);
  }

  familiar(): string {
    if (this.domain !== DEFAULT_DOMAIN) return this.toString();
    const rest = this.path.startsWith(OFFICIAL_REPOSITORY_PREFIX) ? this.path.slice(OFFICIAL_REPOSITORY_PREFIX.length) : undefined;
    return this.suffixed(rest !== undefined && !rest.includes('/') ? rest : this.path);
  }

  withTag(tag: string): Reference {
    if (!isTag(tag)) throw invalidArgument(`invalid tag format: ${JSON.stringify(shorten(tag))}`, { fields: { tag: shorten(tag) } });
    return new NormalizedReference(this.domain, this.path, tag, this.digest);
  }

  withDigest(digest: string): Reference {
    return new NormalizedReference(this.domain, this.path, this.tag, parseDigest(digest));
  }

  toJSON(): string {
    return this.toString();
  }

  private suffixed(name: string): string {
    return `${name}${this.tag === undefined ? '' : `:${this.tag}`}${this.digest === undefined ? '' : `@${this.digest}`}`;
  }
}

/**
 * Parses a reference the way `docker pull` does and normalizes it:
 * `busybox` → `docker.io/library/busybox:latest`; `index.docker.io` becomes
 * `docker.io`; the first path component is a domain only when it contains
 * `.` or `:` or is `localhost` (`localhost:5000/x` keeps its domain). A digest
 * pins the reference and no default tag is added to it.
 *
 * Raises InvalidArgument with Docker's texts:
 * - `repository name must have at least one component` for an empty string;
 * - `invalid repository name (<text>), cannot specify 64-byte hexadecimal strings`
 *   for a bare image id;
 * - `invalid reference format: repository name must be lowercase` when the
 *   repository part has upper-case letters;
 * - `repository name (<path>) must not be more than 255 characters`;
 * - `invalid reference format` for any other syntax error.
 * A digest that fits the grammar but is not a sha256 digest Strata stores
 * raises {@link parseDigest}'s message (e.g. `… unsupported algorithm "md5"`).
 */
export function parseReference(text: string): Reference {
  if (typeof text !== 'string' || text === '') throw invalidArgument('repository name must have at least one component');
  const fields = { ref: shorten(text) };
  if (IMAGE_ID.test(text)) {
    throw invalidArgument(`invalid repository name (${text}), cannot specify 64-byte hexadecimal strings`, { fields });
  }
  const { domain, remainder } = splitDomain(text);
  const colon = remainder.indexOf(':');
  const repository = colon === -1 ? remainder : remainder.slice(0, colon);
  if (repository.toLowerCase() !== repository) {
    throw invalidArgument('invalid reference format: repository name must be lowercase', { fields });
  }

  const at = remainder.indexOf('@');
  const named = at === -1 ? remainder : remainder.slice(0, at);
  const digestText = at === -1 ? undefined : remainder.slice(at + 1);
  const tagColon = named.indexOf(':');
  const path = tagColon === -1 ? named : named.slice(0, tagColon);
  const tag = tagColon === -1 ? undefined : named.slice(tagColon + 1);
  const wellFormed =
    DOMAIN.test(domain) &&
    REPOSITORY_PATH.test(path) &&
    (tag === undefined || TAG.test(tag)) &&
    (digestText === undefined || DIGEST_SHAPE.test(digestText));
  if (!wellFormed) throw invalidArgument('invalid reference format', { fields });
  if (path.length > MAX_REPOSITORY_PATH_LENGTH) {
    throw invalidArgument(`repository name (${shorten(path, 512)}) must not be more than ${MAX_REPOSITORY_PATH_LENGTH} characters`, {
      fields,
    });
  }
  const digest = digestText === undefined ? undefined : parseDigest(digestText);
  return new NormalizedReference(domain, path, tag ?? (digest === undefined ? DEFAULT_TAG : undefined), digest);
}

/** True when text is a reference {@link parseReference} accepts. */
export function isReference(text: string): boolean {
  try {
    parseReference(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when path is a repository path of the distribution grammar
 * (`library/busybox`, `a/b-c/d__e`): lower-case components separated by `/`,
 * at most 255 characters. This is the `<name>` of the OCI Distribution API,
 * which carries no domain and is not normalized.
 */
export function isRepositoryPath(path: string): boolean {
  return typeof path === 'string' && path.length <= MAX_REPOSITORY_PATH_LENGTH && REPOSITORY_PATH.test(path);
}

/** True when tag is a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. */
export function isTag(tag: string): boolean {
  return typeof tag === 'string' && TAG.test(tag);
}

/** True when domain is a registry host of the reference grammar, with an optional port. */
export function isDomain(domain: string): boolean {
  return typeof domain === 'string' && DOMAIN.test(domain);
}

function splitDomain(text: string): { domain: string; remainder: string } {
  const slash = text.indexOf('/');
  const first = slash === -1 ? '' : text.slice(0, slash);
  const hasDomain = slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let domain = hasDomain ? first : DEFAULT_DOMAIN;
  let remainder = hasDomain ? text.slice(slash + 1) : text;
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPOSITORY_PREFIX + remainder;
  return { domain, remainder };
}

function shorten(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
