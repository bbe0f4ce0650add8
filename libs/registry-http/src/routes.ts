import { isInvalidArgument } from '@strata/kit';
import { isRepositoryPath, isTag, parseDigest, type Digest } from '@strata/oci';
import type { ManifestReference } from './registry-backend.js';
import { registryError, type RouteErrorDefaults } from './registry-error.js';

/** An endpoint of the Distribution API with its validated parameters. */
export type Route =
  | { endpoint: 'base' }
  | { endpoint: 'manifest'; name: string; reference: ManifestReference }
  | { endpoint: 'blob'; name: string; digest: Digest }
  | { endpoint: 'uploads'; name: string }
  | { endpoint: 'upload'; name: string; id: string }
  | { endpoint: 'tags'; name: string }
  | { endpoint: 'referrers'; name: string; digest: Digest };

/** A request's route and its query parameters. */
export interface RoutedRequest {
  route: Route;
  query: URLSearchParams;
}

/** The error code of each endpoint's errors by kind, when the error names none. */
export const ENDPOINT_ERRORS: Record<Route['endpoint'], RouteErrorDefaults> = {
  base: {},
  manifest: { NotFound: 'MANIFEST_UNKNOWN', InvalidArgument: 'MANIFEST_INVALID', FailedPrecondition: 'MANIFEST_INVALID' },
  blob: { NotFound: 'BLOB_UNKNOWN', InvalidArgument: 'DIGEST_INVALID' },
  uploads: { NotFound: 'BLOB_UPLOAD_UNKNOWN', InvalidArgument: 'BLOB_UPLOAD_INVALID', FailedPrecondition: 'BLOB_UPLOAD_INVALID' },
  upload: { NotFound: 'BLOB_UPLOAD_UNKNOWN', InvalidArgument: 'BLOB_UPLOAD_INVALID', FailedPrecondition: 'BLOB_UPLOAD_INVALID' },
  tags: { NotFound: 'NAME_UNKNOWN' },
  referrers: { InvalidArgument: 'DIGEST_INVALID' },
};

const PATTERNS: Array<[RegExp, Route['endpoint']]> = [
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, 'manifest'],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, 'uploads'],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, 'upload'],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, 'blob'],
  [/^\/v2\/(.+)\/tags\/list$/, 'tags'],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, 'referrers'],
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Longest request target the router looks at. */
const MAX_TARGET = 8192;

function shown(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

/**
 * Checks a repository name of the API (a repository path, no domain).
 * NAME_INVALID with a sentence: upper-case letters get Docker's
 * `repository name must be lowercase`.
 */
export function validateName(name: string): string {
  if (isRepositoryPath(name)) return name;
  const why =
    name.toLowerCase() !== name && isRepositoryPath(name.toLowerCase())
      ? 'repository name must be lowercase'
      : name.length > 255
        ? 'repository name must not be longer than 255 characters'
        : 'use lower-case letters and digits, separated by ".", "_", "__" or "-", in components joined by "/"';
  throw registryError('NAME_INVALID', `invalid repository name ${shown(name)}: ${why}`, { detail: { name: name.slice(0, 255) } });
}

/** Checks a digest from a path or query: DIGEST_INVALID with parseDigest's sentence. */
export function validateDigest(text: string): Digest {
  try {
    return parseDigest(text);
  } catch (err) {
    if (isInvalidArgument(err)) throw registryError('DIGEST_INVALID', err.message, { detail: { digest: text.slice(0, 100) } });
    throw err;
  }
}

/** A tag or digest of the manifests endpoint: DIGEST_INVALID or TAG_INVALID when malformed. */
export function validateReference(text: string): ManifestReference {
  if (text.includes(':')) return { digest: validateDigest(text) };
  if (isTag(text)) return { tag: text };
  throw registryError('TAG_INVALID', `invalid tag ${shown(text)}: use 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -`, {
    detail: { tag: text.slice(0, 128) },
  });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw registryError('NAME_INVALID', `request path segment ${shown(segment)} is not valid percent-encoding`);
  }
}

/**
 * Routes a request target (`req.url`) of the Distribution API and validates
 * every parameter before anything touches storage: the name (NAME_INVALID),
 * a digest (DIGEST_INVALID), a tag (TAG_INVALID). The path is matched as
 * sent, without resolving `.` or `..` segments; only digests and tags are
 * percent-decoded. Undefined for a target that is no endpoint of the API.
 * An upload id that is not a UUID is BLOB_UPLOAD_UNKNOWN.
 */
export function routeRequest(target: string): RoutedRequest | undefined {
  if (!target.startsWith('/') || target.length > MAX_TARGET) return undefined;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : target.slice(q + 1));
  if (path === '/v2/' || path === '/v2') return { route: { endpoint: 'base' }, query };
  for (const [pattern, endpoint] of PATTERNS) {
    const m = pattern.exec(path);
    if (m === null) continue;
    const name = validateName(m[1] ?? '');
    const param = decodeSegment(m[2] ?? '');
    switch (endpoint) {
      case 'manifest':
        return { route: { endpoint, name, reference: validateReference(param) }, query };
      case 'blob':
      case 'referrers':
        return { route: { endpoint, name, digest: validateDigest(param) }, query };
      case 'upload':
        if (!UUID.test(param)) {
          throw registryError('BLOB_UPLOAD_UNKNOWN', `blob upload ${shown(param)} unknown: upload ids are UUIDs`, { detail: { uuid: param.slice(0, 100) } });
        }
        return { route: { endpoint, name, id: param }, query };
      default:
        return { route: { endpoint, name }, query };
    }
  }
  return undefined;
}
