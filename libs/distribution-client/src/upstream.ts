import {
  StrataError,
  failedPrecondition,
  invalidArgument,
  resourceExhausted,
  type Logger,
} from '@strata/kit';
import {
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  baseMediaType,
  digestOf,
  isDigest,
  isRepositoryPath,
  isTag,
  parseDigest,
  type Digest,
} from '@strata/oci';
import { parseChallenges, type Challenge } from './challenge.js';
import { createTransport, type HttpResponse, type RequestBody } from './http-transport.js';
import { registryError, type RequestContext } from './registry-error.js';
import { createTokenCache } from './token-cache.js';
import { resolveUpstream, type UpstreamConfig } from './upstream-config.js';

/** Default time to a response's headers, and longest pause while a body is read. */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
/** Largest tag list page read. */
export const MAX_TAG_LIST_BYTES = 4 * 1024 * 1024;
/** Largest token server answer read. */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** Largest error body read from a failing answer. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Settings of {@link createUpstream}. */
export interface UpstreamOptions {
  logger: Logger;
  /** Time to a response's headers, and longest pause while a body is read; {@link DEFAULT_FETCH_TIMEOUT_MS} by default. */
  fetchTimeoutMs?: number;
  /** `User-Agent` sent to upstreams; `strata-registry-mirror` by default. */
  userAgent?: string;
  /** The clock of the token cache (ms); Date.now by default. */
  now?: () => number;
}

/** What a manifest HEAD tells: enough to decide whether the cached copy is current. */
export interface ManifestHead {
  digest: Digest;
  /** The `Content-Type` without parameters; empty when the upstream sent none. */
  mediaType: string;
  size: number;
}

/** A manifest or index as fetched: exactly the bytes that were hashed. */
export interface FetchedManifest {
  bytes: Uint8Array;
  digest: Digest;
  /** The `Content-Type` without parameters; empty when the upstream sent none. Parse bytes with it. */
  mediaType: string;
  size: number;
}

/**
 * The body of a blob download: iterate it once. Iterating to the end, or
 * breaking off, releases the connection; destroy() stops a download that
 * is not (or no longer) iterated.
 */
export interface BlobBody extends AsyncIterable<Uint8Array> {
  destroy(): void;
}

/** A blob download in progress. */
export interface BlobDownload {
  /**
   * The bytes from offset on, unverified: pass them through {@link verifyingStream}.
   * Fails with Unavailable when the connection breaks or stalls.
   */
  body: BlobBody;
  /** The whole blob's size as the upstream declared it; undefined when it did not. */
  size: number | undefined;
  /** Where body starts. */
  offset: number;
}

/** One page of a repository's tags. */
export interface TagPage {
  name: string;
  tags: string[];
  /** The next page's query, from the `Link` header; undefined on the last page. */
  next?: { n?: number; last: string };
}

/** A blob to push: its digest, size and bytes (a stream is sent once and cannot follow redirects or auth retries). */
export interface BlobToPush {
  digest: string;
  size: number;
  body: RequestBody;
}

/** Options of {@link Upstream.getBlob}. */
export interface GetBlobOptions {
  /** First byte wanted (a `Range` request); 0 by default. */
  offset?: number;
  signal?: AbortSignal;
}

/**
 * The OCI Distribution API of one upstream registry, with its credentials,
 * token cache and redirect policy. Every method validates its repository
 * (distribution grammar), tag and digest first (InvalidArgument), and maps
 * failures to Strata kinds with a sentence naming the upstream and what was
 * asked for: 401 (after authenticating) Unauthenticated, 403
 * PermissionDenied, 404 NotFound quoting the registry's error code
 * (`MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `NAME_UNKNOWN`), 429
 * ResourceExhausted with Retry-After, 5xx, refused connections and timeouts
 * Unavailable; a redirect or token realm the policy refuses PermissionDenied.
 *
 * Authentication: requests go out with what worked before for their scope
 * (a cached bearer token, or basic credentials once the upstream asked for
 * them). On a 401 from the upstream itself, a `Bearer` challenge is answered
 * with a token from its realm — GET with `service` and `scope` (the
 * challenge's and the request's own), basic auth with the upstream's
 * username and password if configured, `token` or `access_token` accepted,
 * cached per scope until `expires_in` (60 s by default) minus a margin, and
 * fetched once for concurrent requests — or with the configured static
 * token; a `Basic` challenge with the configured username and password. The
 * request is then sent once more. Credentials never leave the upstream's
 * origin except to its token realm.
 */
export interface Upstream {
  /** The configured host (`docker.io`, `127.0.0.1:5000`). */
  readonly host: string;
  /** The API's origin. */
  readonly baseUrl: URL;
  /** `GET /v2/`: resolves when the upstream answers 200 (after authenticating). */
  ping(): Promise<void>;
  /**
   * `HEAD` of a manifest by tag or digest: its digest, media type and size,
   * or undefined on 404. Tags are resolved this way, without spending a GET;
   * only when the upstream's HEAD lacks `Docker-Content-Digest` or
   * `Content-Length` does this fall back to a GET (like containerd).
   * FailedPrecondition when the digest the upstream names is malformed or,
   * for a digest reference, differs from it.
   */
  headManifest(repository: string, reference: string, options?: { accept?: string }): Promise<ManifestHead | undefined>;
  /**
   * `GET` of a manifest or index, reading at most {@link MAX_MANIFEST_BYTES}
   * (InvalidArgument beyond, by Content-Length before reading or while
   * reading). FailedPrecondition when a digest reference does not match the
   * bytes, or a sha256 `Docker-Content-Digest` disagrees with them. accept
   * defaults to MANIFEST_ACCEPT.
   */
  getManifest(repository: string, reference: string, options?: { accept?: string }): Promise<FetchedManifest>;
  /** `HEAD` of a blob: its size, or undefined on 404. */
  headBlob(repository: string, digest: string): Promise<{ size: number } | undefined>;
  /**
   * `GET` of a blob, streaming, from offset (a `Range` request; an upstream
   * that ignores Range and answers 200 has the first offset bytes skipped).
   * The caller verifies the bytes ({@link verifyingStream}). NotFound
   * (`BLOB_UNKNOWN`), OutOfRange for an offset past the end (416),
   * FailedPrecondition when a 206 starts elsewhere than offset.
   */
  getBlob(repository: string, digest: string, options?: GetBlobOptions): Promise<BlobDownload>;
  /**
   * One page of `tags/list` with `n` and `last`; `next` comes from the
   * `Link` header (which must stay on the upstream's tag list,
   * FailedPrecondition otherwise). FailedPrecondition for an answer that is
   * not the spec's `{name, tags}`.
   */
  listTags(repository: string, options?: { n?: number; last?: string }): Promise<TagPage>;
  /**
   * Every tag, following `Link` from page to page (pageSize per page when
   * given). ResourceExhausted beyond maxTags (100000); FailedPrecondition
   * when a page's `last` does not advance.
   */
  listAllTags(repository: string, options?: { pageSize?: number; maxTags?: number }): Promise<string[]>;
  /**
   * Pushes a blob: a cross-repository mount from mountFrom when given (201),
   * else (or when the upstream answers 202 to the mount) a monolithic upload,
   * POST then PUT `?digest=` with the bytes. mounted says which happened.
   * FailedPrecondition when the upstream's `Docker-Content-Digest` differs.
   */
  pushBlob(repository: string, blob: BlobToPush, options?: { mountFrom?: string }): Promise<{ mounted: boolean }>;
  /**
   * PUT of a manifest under a tag or its digest with mediaType as
   * Content-Type; returns its digest. InvalidArgument for bytes over
   * MAX_MANIFEST_BYTES or a digest reference the bytes do not match.
   */
  pushManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<{ digest: Digest }>;
  /** Ends the keep-alive connections. */
  close(): void;
}

interface Call {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  /** A path with query under the API's origin, or an absolute URL (an upload location). */
  target: string | URL;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Token scopes the request needs (`repository:busybox:pull`); empty for `/v2/`. */
  scopes: string[];
  context: RequestContext;
  signal?: AbortSignal | undefined;
}

function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;
const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/**
 * Creates the client of one upstream registry (see {@link Upstream}).
 * Raises InvalidArgument for a configuration {@link resolveUpstream} refuses.
 */
export function createUpstream(config: UpstreamConfig, options: UpstreamOptions): Upstream {
  const upstream = resolveUpstream(config);
  const { host, baseUrl, credentials } = upstream;
  const logger = options.logger.child({ upstream: host });
  const timeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const transport = createTransport(upstream, { timeoutMs, userAgent: options.userAgent ?? 'strata-registry-mirror', logger });
  const tokens = createTokenCache(options.now);
  const pendingTokens = new Map<string, Promise<string>>();
  const basic = credentials !== undefined && 'username' in credentials ? basicAuthorization(credentials.username, credentials.password) : undefined;
  const staticToken = credentials !== undefined && 'token' in credentials ? `Bearer ${credentials.token}` : undefined;
  let scheme: 'basic' | 'bearer' | undefined;

  const unauthenticated = (message: string) => new StrataError('Unauthenticated', `upstream ${host}: ${message}`, { fields: { upstream: host } });

  const authorizationFor = (scopeKey: string): string | undefined => {
    if (scheme === 'basic') return basic;
    if (scheme === 'bearer') return staticToken ?? (tokens.get(scopeKey) === undefined ? undefined : `Bearer ${tokens.get(scopeKey)}`);
    return undefined;
  };

  const readError = async (response: HttpResponse, context: RequestContext): Promise<StrataError> => {
    let body: Uint8Array = new Uint8Array();
    try {
      body = await transport.readAll(response, `error body of ${context.what}`, MAX_ERROR_BODY_BYTES, () =>
        invalidArgument('error body too large'),
      );
    } catch {
      response.body.destroy();
    }
    return registryError(context, response.status, { retryAfter: response.header('retry-after') }, body);
  };

  const fetchToken = (scopeKey: string, scopes: string[], challenge: Challenge, context: RequestContext): Promise<string> => {
    const pending = pendingTokens.get(scopeKey);
    if (pending !== undefined) return pending;
    const promise = (async () => {
      const realm = challenge.params.realm ?? '';
      let url: URL;
      try {
        url = new URL(realm);
      } catch {
        throw unauthenticated(`its Bearer challenge names no valid token realm (${JSON.stringify(realm.slice(0, 200))})`);
      }
      const service = challenge.params.service;
      if (service !== undefined && service !== '') url.searchParams.set('service', service);
      const wanted = new Set([...(challenge.params.scope ?? '').split(' '), ...scopes].filter((s) => s !== ''));
      for (const scope of wanted) url.searchParams.append('scope', scope);
      const realmShown = `${url.origin}${url.pathname}`;
      const tokenContext: RequestContext = { ...context, what: `token from ${realmShown} for ${context.what}` };
      logger.debug({ realm: realmShown, scopes: [...wanted] }, 'fetching a bearer token');
      const response = await transport.sendElsewhere(
        { method: 'GET', url, headers: { accept: 'application/json' }, authorization: basic, label: `GET ${tokenContext.what}` },
        'token realm',
      );
      if (response.status !== 200) throw await readError(response, tokenContext);
      const bytes = await transport.readAll(response, tokenContext.what, MAX_TOKEN_RESPONSE_BYTES, (n) =>
        unauthenticated(`the token server at ${realmShown} answered more than ${MAX_TOKEN_RESPONSE_BYTES} bytes (${n})`),
      );
      let answer: unknown;
      try {
        answer = JSON.parse(Buffer.from(bytes).toString('utf8'));
      } catch {
        throw unauthenticated(`the token server at ${realmShown} did not answer JSON`);
      }
      const fields = typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : {};
      const token = typeof fields.token === 'string' && fields.token !== '' ? fields.token : fields.access_token;
      if (typeof token !== 'string' || !TOKEN_CHARACTERS.test(token)) {
        throw unauthenticated(`the token server at ${realmShown} answered without a usable "token" or "access_token"`);
      }
      tokens.set(scopeKey, token, fields.expires_in);
      return token;
    })().finally(() => pendingTokens.delete(scopeKey));
    pendingTokens.set(scopeKey, promise);
    return promise;
  };

  const call = async (request: Call): Promise<HttpResponse> => {
    const scopeKey = request.scopes.join(' ');
    const url = typeof request.target === 'string' ? new URL(request.target, baseUrl) : request.target;
    const label = `${request.method} ${request.context.what}`;
    const sent = authorizationFor(scopeKey);
    const send = (authorization: string | undefined) =>
      transport.send({
        method: request.method,
        url,
        label,
        authorization,
        ...(request.headers === undefined ? {} : { headers: request.headers }),
        ...(request.body === undefined ? {} : { body: request.body }),
        signal: request.signal,
      });
    const response = await send(sent);
    if (response.status !== 401 || response.url.origin !== baseUrl.origin) return response;
    const challenges = parseChallenges(response.header('www-authenticate') ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    let retry: string | undefined;
    if (bearer !== undefined) {
      scheme = 'bearer';
      if (staticToken !== undefined) retry = staticToken;
      else {
        const cached = tokens.get(scopeKey);
        if (cached !== undefined && `Bearer ${cached}` !== sent) retry = `Bearer ${cached}`;
        else {
          tokens.delete(scopeKey);
          retry = `Bearer ${await fetchToken(scopeKey, request.scopes, bearer, request.context)}`;
        }
      }
    } else if (basic !== undefined && challenges.some((c) => c.scheme === 'basic')) {
      scheme = 'basic';
      retry = basic;
    }
    if (retry === undefined || retry === sent) return response;
    if (request.body !== undefined && !(request.body instanceof Uint8Array)) {
      response.body.resume();
      throw unauthenticated(`${label}: the upstream asked to authenticate, and a streamed body cannot be sent again; authenticate first (ping)`);
    }
    response.body.resume();
    logger.debug({ scheme, what: request.context.what }, 'authenticated after a challenge');
    return send(retry);
  };

  const checkRepository = (repository: string) => {
    if (!isRepositoryPath(repository)) {
      throw invalidArgument(`upstream ${host}: invalid repository name ${JSON.stringify(String(repository).slice(0, 300))}`, {
        fields: { upstream: host },
      });
    }
  };
  const checkReference = (reference: string): 'tag' | 'digest' => {
    if (typeof reference === 'string' && reference.includes(':')) {
      parseDigest(reference);
      return 'digest';
    }
    if (!isTag(reference)) throw invalidArgument(`upstream ${host}: invalid tag ${JSON.stringify(String(reference).slice(0, 200))}`);
    return 'tag';
  };
  const manifestContext = (repository: string, reference: string, kind: 'tag' | 'digest'): RequestContext => ({
    upstream: host,
    repository,
    what: `manifest ${repository}${kind === 'digest' ? '@' : ':'}${reference}`,
  });
  const pull = (repository: string) => [`repository:${repository}:pull`];

  const getManifest = async (repository: string, reference: string, opts: { accept?: string } = {}): Promise<FetchedManifest> => {
    checkRepository(repository);
    const kind = checkReference(reference);
    const context = manifestContext(repository, reference, kind);
    const response = await call({
      method: 'GET',
      target: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: opts.accept ?? MANIFEST_ACCEPT },
      scopes: pull(repository),
      context,
    });
    if (response.status !== 200) throw await readError(response, context);
    const tooLarge = (n: number) =>
      invalidArgument(`upstream ${host}: ${context.what} is ${n} bytes or more, over the limit of ${MAX_MANIFEST_BYTES} bytes`, {
        fields: { upstream: host, repository, limit: MAX_MANIFEST_BYTES },
      });
    const declared = Number(response.header('content-length') ?? Number.NaN);
    if (declared > MAX_MANIFEST_BYTES) {
      response.body.destroy();
      throw tooLarge(declared);
    }
    const bytes = await transport.readAll(response, `GET ${context.what}`, MAX_MANIFEST_BYTES, tooLarge);
    const digest = digestOf(bytes);
    if (kind === 'digest' && digest !== reference) {
      throw failedPrecondition(`upstream ${host}: ${context.what}: content has digest ${digest}, not the expected ${reference}`, {
        fields: { upstream: host, repository, digest: reference, actual: digest },
      });
    }
    const announced = response.header('docker-content-digest');
    if (announced !== undefined && announced.startsWith('sha256:') && announced !== digest) {
      throw failedPrecondition(`upstream ${host}: ${context.what}: Docker-Content-Digest says ${announced.slice(0, 80)}, but the content has digest ${digest}`, {
        fields: { upstream: host, repository, actual: digest },
      });
    }
    return { bytes, digest, mediaType: baseMediaType(response.header('content-type') ?? ''), size: bytes.length };
  };

  const headManifest = async (repository: string, reference: string, opts: { accept?: string } = {}): Promise<ManifestHead | undefined> => {
    checkRepository(repository);
    const kind = checkReference(reference);
    const context = manifestContext(repository, reference, kind);
    const response = await call({
      method: 'HEAD',
      target: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: opts.accept ?? MANIFEST_ACCEPT },
      scopes: pull(repository),
      context,
    });
    response.body.resume();
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw registryError(context, response.status, { retryAfter: response.header('retry-after') }, new Uint8Array());
    const announced = response.header('docker-content-digest');
    const length = response.header('content-length');
    const size = length === undefined || !/^\d+$/.test(length) ? undefined : Number(length);
    if (announced === undefined || size === undefined) {
      logger.debug({ what: context.what }, 'HEAD without Docker-Content-Digest or Content-Length; falling back to GET');
      const fetched = await getManifest(repository, reference, opts);
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.size };
    }
    if (!isDigest(announced)) {
      throw failedPrecondition(`upstream ${host}: ${context.what}: Docker-Content-Digest ${JSON.stringify(announced.slice(0, 100))} is not a sha256 digest`, {
        fields: { upstream: host, repository },
      });
    }
    if (kind === 'digest' && announced !== reference) {
      throw failedPrecondition(`upstream ${host}: ${context.what}: Docker-Content-Digest says ${announced}, not the digest asked for`, {
        fields: { upstream: host, repository, actual: announced },
      });
    }
    return { digest: announced, mediaType: baseMediaType(response.header('content-type') ?? ''), size };
  };

  const headBlob = async (repository: string, digest: string): Promise<{ size: number } | undefined> => {
    checkRepository(repository);
    const d = parseDigest(digest);
    const context: RequestContext = { upstream: host, repository, what: `blob ${repository}@${d}` };
    const response = await call({ method: 'HEAD', target: `/v2/${repository}/blobs/${d}`, scopes: pull(repository), context });
    response.body.resume();
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw registryError(context, response.status, { retryAfter: response.header('retry-after') }, new Uint8Array());
    const length = response.header('content-length');
    if (length === undefined || !/^\d+$/.test(length)) {
      throw failedPrecondition(`upstream ${host}: HEAD ${context.what}: answered without a Content-Length`, { fields: { upstream: host } });
    }
    return { size: Number(length) };
  };

  const getBlob = async (repository: string, digest: string, opts: GetBlobOptions = {}): Promise<BlobDownload> => {
    checkRepository(repository);
    const d = parseDigest(digest);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument(`upstream ${host}: blob offset must be a non-negative integer, got ${offset}`);
    const context: RequestContext = { upstream: host, repository, what: `blob ${repository}@${d}` };
    const response = await call({
      method: 'GET',
      target: `/v2/${repository}/blobs/${d}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: pull(repository),
      context,
      signal: opts.signal,
    });
    let size: number | undefined;
    let skip = 0;
    if (response.status === 206 && offset > 0) {
      const m = CONTENT_RANGE.exec(response.header('content-range') ?? '');
      if (m === null || Number(m[1]) !== offset) {
        response.body.destroy();
        throw failedPrecondition(
          `upstream ${host}: GET ${context.what}: asked for bytes from ${offset}, got Content-Range ${JSON.stringify((response.header('content-range') ?? '').slice(0, 100))}`,
          { fields: { upstream: host, repository } },
        );
      }
      size = m[3] === '*' ? Number(m[2]) + 1 : Number(m[3]);
    } else if (response.status === 200) {
      const length = response.header('content-length');
      size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
      skip = offset;
    } else {
      throw await readError(response, context);
    }
    const chunks = transport.chunks(response, `GET ${context.what}`);
    async function* skipping(): AsyncGenerator<Uint8Array> {
      let toSkip = skip;
      for await (const chunk of chunks) {
        if (toSkip >= chunk.length) {
          toSkip -= chunk.length;
          continue;
        }
        yield toSkip > 0 ? chunk.subarray(toSkip) : chunk;
        toSkip = 0;
      }
    }
    // The generator itself, not a stream around it: one layer less for every chunk of a large blob.
    const body: BlobBody = Object.assign(skip > 0 ? skipping() : chunks, { destroy: () => response.body.destroy() });
    return { body, size, offset };
  };

  const listTags = async (repository: string, opts: { n?: number; last?: string } = {}): Promise<TagPage> => {
    checkRepository(repository);
    const context: RequestContext = { upstream: host, repository, what: `tags of ${repository}` };
    const query = new URLSearchParams();
    if (opts.n !== undefined) {
      if (!Number.isSafeInteger(opts.n) || opts.n < 0) throw invalidArgument(`upstream ${host}: tag page size n must be a non-negative integer, got ${opts.n}`);
      query.set('n', String(opts.n));
    }
    if (opts.last !== undefined) query.set('last', opts.last);
    const path = `/v2/${repository}/tags/list`;
    const search = query.toString();
    const response = await call({ method: 'GET', target: search === '' ? path : `${path}?${search}`, scopes: pull(repository), context });
    if (response.status !== 200) throw await readError(response, context);
    const bytes = await transport.readAll(response, `GET ${context.what}`, MAX_TAG_LIST_BYTES, (n) =>
      resourceExhausted(`upstream ${host}: ${context.what}: the page is ${n} bytes or more, over the limit of ${MAX_TAG_LIST_BYTES}; ask for fewer tags (n)`),
    );
    const malformed = (why: string) => failedPrecondition(`upstream ${host}: ${context.what}: the answer is not a tag list (${why})`, { fields: { upstream: host, repository } });
    let root: unknown;
    try {
      root = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw malformed('not JSON');
    }
    if (typeof root !== 'object' || root === null) throw malformed('not an object');
    const { name, tags } = root as { name?: unknown; tags?: unknown };
    if (tags !== null && tags !== undefined && !Array.isArray(tags)) throw malformed('"tags" is not a list');
    const list = (tags ?? []) as unknown[];
    if (!list.every((t): t is string => typeof t === 'string' && isTag(t))) throw malformed('a tag is not a valid tag name');
    const page: TagPage = { name: typeof name === 'string' ? name : repository, tags: list };
    const next = nextLink(response.header('link'), response.url);
    if (next !== undefined) {
      if (next.origin !== baseUrl.origin || next.pathname !== path) {
        throw failedPrecondition(`upstream ${host}: ${context.what}: the Link header points outside this repository's tag list`, {
          fields: { upstream: host, repository },
        });
      }
      const last = next.searchParams.get('last');
      if (last !== null && last !== '') {
        const n = next.searchParams.get('n');
        page.next = { last, ...(n !== null && /^\d+$/.test(n) ? { n: Number(n) } : {}) };
      }
    }
    return page;
  };

  const listAllTags = async (repository: string, opts: { pageSize?: number; maxTags?: number } = {}): Promise<string[]> => {
    const maxTags = opts.maxTags ?? 100_000;
    const all: string[] = [];
    const sizing = opts.pageSize === undefined ? {} : { n: opts.pageSize };
    const seen = new Set<string>();
    let page = await listTags(repository, sizing);
    for (;;) {
      all.push(...page.tags);
      if (all.length > maxTags) {
        throw resourceExhausted(`upstream ${host}: tags of ${repository}: more than ${maxTags} tags`, { fields: { upstream: host, repository } });
      }
      const next = page.next;
      if (next === undefined) return all;
      if (page.tags.length === 0 || seen.has(next.last)) {
        throw failedPrecondition(
          `upstream ${host}: tags of ${repository}: the Link header does not advance (last=${JSON.stringify(next.last.slice(0, 100))})`,
          { fields: { upstream: host, repository } },
        );
      }
      seen.add(next.last);
      page = await listTags(repository, { ...(next.n === undefined ? sizing : { n: next.n }), last: next.last });
    }
  };

  const pushBlob = async (repository: string, blob: BlobToPush, opts: { mountFrom?: string } = {}): Promise<{ mounted: boolean }> => {
    checkRepository(repository);
    const digest = parseDigest(blob.digest);
    if (!Number.isSafeInteger(blob.size) || blob.size < 0) throw invalidArgument(`upstream ${host}: blob size must be a non-negative integer, got ${blob.size}`);
    if (opts.mountFrom !== undefined) checkRepository(opts.mountFrom);
    const context: RequestContext = { upstream: host, repository, what: `blob upload ${repository}@${digest}` };
    const scopes = [`repository:${repository}:pull,push`, ...(opts.mountFrom === undefined ? [] : [`repository:${opts.mountFrom}:pull`])];
    const query = opts.mountFrom === undefined ? '' : `?${new URLSearchParams({ mount: digest, from: opts.mountFrom }).toString()}`;
    const started = await call({
      method: 'POST',
      target: `/v2/${repository}/blobs/uploads/${query}`,
      headers: { 'content-length': '0' },
      scopes,
      context,
    });
    if (started.status === 201 && opts.mountFrom !== undefined) {
      started.body.resume();
      return { mounted: true };
    }
    if (started.status !== 202) throw await readError(started, context);
    started.body.resume();
    const location = started.header('location');
    if (location === undefined) throw failedPrecondition(`upstream ${host}: POST ${context.what}: answered 202 without a Location`);
    let uploadUrl: URL;
    try {
      uploadUrl = new URL(location, started.url);
    } catch {
      throw failedPrecondition(`upstream ${host}: POST ${context.what}: Location ${JSON.stringify(location.slice(0, 200))} is not a URL`);
    }
    uploadUrl.searchParams.set('digest', digest);
    const done = await call({
      method: 'PUT',
      target: uploadUrl,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: blob.body,
      scopes,
      context,
    });
    if (done.status !== 201) throw await readError(done, context);
    done.body.resume();
    const announced = done.header('docker-content-digest');
    if (announced !== undefined && announced.startsWith('sha256:') && announced !== digest) {
      throw failedPrecondition(`upstream ${host}: PUT ${context.what}: the upstream stored digest ${announced.slice(0, 80)}, not ${digest}`);
    }
    return { mounted: false };
  };

  const pushManifest = async (repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<{ digest: Digest }> => {
    checkRepository(repository);
    const kind = checkReference(reference);
    const context = manifestContext(repository, reference, kind);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw invalidArgument(`upstream ${host}: ${context.what} is ${bytes.length} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes`);
    }
    const digest = digestOf(bytes);
    if (kind === 'digest' && digest !== reference) {
      throw invalidArgument(`upstream ${host}: ${context.what}: the bytes have digest ${digest}, not the reference's`);
    }
    const response = await call({
      method: 'PUT',
      target: `/v2/${repository}/manifests/${reference}`,
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      scopes: [`repository:${repository}:pull,push`],
      context,
    });
    if (response.status !== 201) throw await readError(response, context);
    response.body.resume();
    const announced = response.header('docker-content-digest');
    if (announced !== undefined && announced.startsWith('sha256:') && announced !== digest) {
      throw failedPrecondition(`upstream ${host}: PUT ${context.what}: the upstream stored digest ${announced.slice(0, 80)}, not ${digest}`);
    }
    return { digest };
  };

  return {
    host,
    baseUrl,
    async ping() {
      const context: RequestContext = { upstream: host, what: 'API check GET /v2/' };
      const response = await call({ method: 'GET', target: '/v2/', scopes: [], context });
      if (response.status !== 200) throw await readError(response, context);
      response.body.resume();
    },
    headManifest,
    getManifest,
    headBlob,
    getBlob,
    listTags,
    listAllTags,
    pushBlob,
    pushManifest,
    close: () => transport.close(),
  };
}

/** The `rel="next"` target of a `Link` header, resolved against base; undefined when there is none or it is malformed. */
export function nextLink(header: string | undefined, base: URL): URL | undefined {
  if (header === undefined) return undefined;
  for (const m of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
    const params = m[2] ?? '';
    if (!/;\s*rel\s*=\s*"?next"?/i.test(params)) continue;
    try {
      return new URL(m[1] ?? '', base);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
