import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeBlob, type BlobReader } from '@strata/content';
import { isNotFound, type Logger } from '@strata/kit';
import { MAX_MANIFEST_BYTES, MediaTypes, isDomain, type ImageIndex } from '@strata/oci';
import { contentLength, parseContentRange, parseRange, readCappedBody } from './http-io.js';
import type { RegistryBackend, Repository, UploadChunk, UploadStatus } from './registry-backend.js';
import { errorBody, registryError, toRegistryErrorResponse, type RouteErrorDefaults } from './registry-error.js';
import { ENDPOINT_ERRORS, routeRequest, validateDigest, validateName, type Route } from './routes.js';
import { createSharedBlobReads, type SentRange, type SharedBlobReadsOptions } from './shared-blob-reads.js';

/** Settings of {@link createRegistryHandler}. */
export interface RegistryHandlerOptions {
  /** Where repositories come from: the local backend, a pull-through one, or a router over several. */
  backend: RegistryBackend;
  logger: Logger;
  /** Largest manifest accepted on PUT; {@link MAX_MANIFEST_BYTES} (4 MiB) by default. Larger: 413 MANIFEST_INVALID. */
  maxManifestBytes?: number;
  /** Memory for the pieces of blobs that responses send at the same time ({@link createSharedBlobReads}); its defaults by default. */
  sharedReads?: SharedBlobReadsOptions;
}

/** A node:http request listener. */
export type RegistryHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Largest `n` of tags/list, and the page size when the client sends none. */
export const MAX_TAGS_PAGE = 10_000;

const API_VERSION = 'registry/2.0';

/**
 * The OCI Distribution API over a backend, as a node:http listener.
 *
 * Pull: `GET /v2/`; manifests GET/HEAD by tag or digest (the stored media
 * type as Content-Type, Docker-Content-Digest, Content-Length); blobs
 * GET/HEAD with one `Range` (206 and Content-Range, 416 when unsatisfiable);
 * `tags/list` with `n`/`last` and a `Link` to the next page; OCI 1.1
 * `referrers/<digest>` with an `artifactType` filter. Push: uploads
 * (monolithic POST `?digest=`, POST then PUT, chunked PATCH with
 * Content-Range, streamed PATCH, GET status, DELETE), cross-repository
 * mount, manifest PUT, DELETE of manifests, tags and blobs.
 *
 * Every name, tag, digest and upload id is validated before the backend
 * sees it. Errors are answered with the spec's JSON body
 * `{"errors":[{"code","message","detail"}]}` and status; unexpected errors
 * are a 500 UNKNOWN with a generic message and the cause in the log. Blob
 * bodies are streamed both ways, never buffered whole (responses sending
 * the same blob at once share its pieces: {@link createSharedBlobReads}); manifests are
 * buffered up to maxManifestBytes. A request body the handler does not read
 * closes the connection after the answer.
 */
export function createRegistryHandler(options: RegistryHandlerOptions): RegistryHandler {
  const { backend, logger } = options;
  const maxManifestBytes = options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  const sharedReads = createSharedBlobReads(options.sharedReads);

  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown, defaults: RouteErrorDefaults = {}) => {
    const answer = toRegistryErrorResponse(err, defaults);
    if (answer.internal) logger.error({ err, method: req.method, url: req.url?.slice(0, 300) }, 'registry request failed');
    else logger.debug({ code: answer.code, message: answer.message, method: req.method, url: req.url?.slice(0, 300) }, 'registry request refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorBody(answer);
    res.statusCode = answer.status;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    if (!req.complete) res.setHeader('Connection', 'close');
    if (answer.code === 'RANGE_INVALID' && typeof answer.detail === 'object' && answer.detail !== null) {
      const detail = answer.detail as { offset?: unknown; size?: unknown };
      if (typeof detail.offset === 'number') res.setHeader('Range', rangeHeader(detail.offset));
      if (typeof detail.size === 'number') res.setHeader('Content-Range', `bytes */${detail.size}`);
    }
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const send = (res: ServerResponse, status: number, headers: Record<string, string | number>, body?: Uint8Array | string) => {
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (!Object.hasOwn(headers, 'Content-Length')) res.setHeader('Content-Length', body === undefined ? 0 : Buffer.byteLength(body));
    res.end(body);
  };

  const sendJson = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
    send(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));

  const uploadHeaders = (name: string, status: UploadStatus) => ({
    Location: `/v2/${name}/blobs/uploads/${status.id}`,
    Range: rangeHeader(status.offset),
    'Docker-Upload-UUID': status.id,
  });

  /** The chunk a PATCH or PUT carries: its body, and its Content-Range or Content-Length. */
  const chunkOf = (req: IncomingMessage): UploadChunk => {
    const range = parseContentRange(header(req, 'content-range'));
    const declared = contentLength(req);
    if (range !== undefined && declared !== undefined && range.length !== declared) {
      throw registryError('SIZE_INVALID', `Content-Range says ${range.length} bytes but Content-Length says ${declared}`);
    }
    return {
      body: req,
      ...(range === undefined ? {} : { start: range.start }),
      ...(range !== undefined ? { length: range.length } : declared !== undefined ? { length: declared } : {}),
    };
  };

  const hasBody = (req: IncomingMessage) => (contentLength(req) ?? 0) > 0 || header(req, 'transfer-encoding') !== undefined;

  const serveManifest = async (req: IncomingMessage, res: ServerResponse, repo: Repository, route: Extract<Route, { endpoint: 'manifest' }>) => {
    switch (req.method) {
      case 'HEAD': {
        const head = await repo.resolveManifest(route.reference);
        return send(res, 200, { 'Content-Type': head.mediaType, 'Docker-Content-Digest': head.digest, 'Content-Length': head.size });
      }
      case 'GET': {
        // A manifest just fetched from an upstream is verified already: the client need not wait while the store takes it.
        const manifest = await repo.getManifest(route.reference, { whileStoring: true });
        manifest.stored?.catch((err: unknown) => logger.warn({ err, digest: manifest.digest }, 'a served manifest was not stored'));
        return send(res, 200, { 'Content-Type': manifest.mediaType, 'Docker-Content-Digest': manifest.digest }, manifest.bytes);
      }
      case 'PUT': {
        const bytes = await readCappedBody(req, maxManifestBytes);
        const contentType = header(req, 'content-type');
        const put = await repo.putManifest({ reference: route.reference, bytes, ...(contentType === undefined ? {} : { contentType }) });
        return send(res, 201, {
          Location: `/v2/${route.name}/manifests/${put.digest}`,
          'Docker-Content-Digest': put.digest,
          ...(put.subject === undefined ? {} : { 'OCI-Subject': put.subject }),
        });
      }
      case 'DELETE':
        await repo.deleteManifest(route.reference);
        return send(res, 202, {});
      default:
        throw methodNotAllowed(req, 'GET, HEAD, PUT, DELETE');
    }
  };

  /** scope: how the client addressed the repository (its ns and name), so responses share only the pieces of one repository's blob. */
  const serveBlob = async (req: IncomingMessage, res: ServerResponse, repo: Repository, route: Extract<Route, { endpoint: 'blob' }>, scope: string) => {
    if (req.method === 'DELETE') {
      await repo.deleteBlob(route.digest);
      return send(res, 202, {});
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req, 'GET, HEAD, DELETE');
    const key = `${scope} ${route.digest}`;
    const open = (r?: SentRange) => repo.openBlob(route.digest, r);
    const base = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': route.digest, 'Accept-Ranges': 'bytes', ETag: `"${route.digest}"` };
    // A whole blob that no other response reads: its reader brings the size, so the blob is not looked up twice.
    const alone = req.method === 'GET' && header(req, 'range') === undefined ? sharedReads.openAlone(key, open) : undefined;
    if (alone !== undefined) {
      const reader = await alone;
      return sendBlob(res, route.digest, reader, 200, { ...base, 'Content-Length': reader.size });
    }
    const head = await repo.statBlob(route.digest);
    const range = parseRange(header(req, 'range'), head.size);
    if (range.kind === 'unsatisfiable') {
      throw registryError('RANGE_INVALID', `range ${header(req, 'range') ?? ''} is outside blob ${head.digest} of ${head.size} bytes`, {
        status: 416,
        detail: { digest: head.digest, size: head.size },
      });
    }
    const partial = range.kind === 'range';
    const start = partial ? range.start : 0;
    const length = partial ? range.end - range.start + 1 : head.size;
    const headers = { ...base, 'Content-Length': length, ...(partial ? { 'Content-Range': `bytes ${start}-${start + length - 1}/${head.size}` } : {}) };
    if (req.method === 'HEAD') return send(res, partial ? 206 : 200, headers);
    const reader = await sharedReads.open(key, head.size, { offset: start, length }, open);
    return sendBlob(res, route.digest, reader, partial ? 206 : 200, headers);
  };

  /** Answers with status, headers and the reader's bytes; a response that breaks off is destroyed. */
  const sendBlob = async (res: ServerResponse, digest: string, reader: BlobReader, status: number, headers: Record<string, string | number>) => {
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    try {
      await pipeBlob(reader, res);
    } catch (err) {
      if (res.writableFinished) return;
      logger.debug({ err, digest }, 'blob response ended early');
      res.destroy();
    }
  };

  const startUpload = async (req: IncomingMessage, res: ServerResponse, repo: Repository, query: URLSearchParams) => {
    if (req.method !== 'POST') throw methodNotAllowed(req, 'POST');
    const mount = query.get('mount');
    const from = query.get('from');
    if (mount !== null && from !== null) {
      const digest = validateDigest(mount);
      const source = await backend.repository(validateName(from)).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      const mounted = source === undefined ? undefined : await repo.mountBlob(digest, source);
      if (mounted !== undefined) {
        req.resume();
        return send(res, 201, { Location: `/v2/${repo.name}/blobs/${mounted.digest}`, 'Docker-Content-Digest': mounted.digest });
      }
    }
    const digestText = query.get('digest');
    if (digestText !== null) {
      const digest = validateDigest(digestText);
      const status = await repo.startUpload();
      const declared = contentLength(req);
      const blob = await repo.completeUpload(status.id, digest, { body: req, ...(declared === undefined ? {} : { length: declared }) });
      return send(res, 201, { Location: `/v2/${repo.name}/blobs/${blob.digest}`, 'Docker-Content-Digest': blob.digest });
    }
    if (hasBody(req)) req.resume();
    const status = await repo.startUpload();
    return send(res, 202, uploadHeaders(repo.name, status));
  };

  const serveUpload = async (req: IncomingMessage, res: ServerResponse, repo: Repository, id: string, query: URLSearchParams) => {
    switch (req.method) {
      case 'GET':
        return send(res, 204, uploadHeaders(repo.name, await repo.uploadStatus(id)));
      case 'PATCH':
        return send(res, 202, uploadHeaders(repo.name, await repo.appendUpload(id, chunkOf(req))));
      case 'PUT': {
        const digestText = query.get('digest');
        if (digestText === null) throw registryError('DIGEST_INVALID', 'a PUT that completes an upload needs the ?digest= of the whole blob');
        const digest = validateDigest(digestText);
        const blob = await repo.completeUpload(id, digest, hasBody(req) || header(req, 'content-range') !== undefined ? chunkOf(req) : undefined);
        return send(res, 201, { Location: `/v2/${repo.name}/blobs/${blob.digest}`, 'Docker-Content-Digest': blob.digest });
      }
      case 'DELETE':
        await repo.cancelUpload(id);
        return send(res, 204, {});
      default:
        throw methodNotAllowed(req, 'GET, PATCH, PUT, DELETE');
    }
  };

  const serveTags = async (req: IncomingMessage, res: ServerResponse, repo: Repository, query: URLSearchParams) => {
    if (req.method !== 'GET') throw methodNotAllowed(req, 'GET');
    const nText = query.get('n');
    let n = MAX_TAGS_PAGE;
    if (nText !== null) {
      n = /^\d{1,9}$/.test(nText) ? Number(nText) : -1;
      if (n < 0) throw registryError('PAGINATION_NUMBER_INVALID', `n=${JSON.stringify(nText.slice(0, 20))} is not a whole number of tags, 0 or more`);
      n = Math.min(n, MAX_TAGS_PAGE);
    }
    const last = query.get('last') ?? undefined;
    const page = await repo.listTags({ n, ...(last === undefined || last === '' ? {} : { last }) });
    const lastTag = page.tags.at(-1);
    const link = page.more && lastTag !== undefined ? `</v2/${repo.name}/tags/list?n=${n}&last=${encodeURIComponent(lastTag)}>; rel="next"` : undefined;
    return sendJson(res, 200, { name: repo.name, tags: page.tags }, link === undefined ? {} : { Link: link });
  };

  const serveReferrers = async (req: IncomingMessage, res: ServerResponse, repo: Repository, route: Extract<Route, { endpoint: 'referrers' }>, query: URLSearchParams) => {
    if (req.method !== 'GET') throw methodNotAllowed(req, 'GET');
    const artifactType = query.get('artifactType') ?? undefined;
    const manifests = await repo.referrers(route.digest, artifactType === undefined ? {} : { artifactType });
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
    return send(
      res,
      200,
      { 'Content-Type': MediaTypes.ociIndex, ...(artifactType === undefined ? {} : { 'OCI-Filters-Applied': 'artifactType' }) },
      JSON.stringify(index),
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('Docker-Distribution-API-Version', API_VERSION);
    let defaults: RouteErrorDefaults = {};
    try {
      const routed = routeRequest(req.url ?? '');
      if (routed === undefined) throw registryError('UNSUPPORTED', `no endpoint of the registry API at ${JSON.stringify((req.url ?? '').slice(0, 100))}`, { status: 404 });
      const { route, query } = routed;
      defaults = ENDPOINT_ERRORS[route.endpoint];
      if (route.endpoint === 'base') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req, 'GET, HEAD');
        return sendJson(res, 200, {});
      }
      const ns = query.get('ns') ?? undefined;
      if (ns !== undefined && !isDomain(ns)) throw registryError('NAME_INVALID', `ns=${JSON.stringify(ns.slice(0, 100))} is not a registry host name`);
      const repo = await backend.repository(route.name, ns === undefined ? {} : { ns });
      switch (route.endpoint) {
        case 'manifest':
          return await serveManifest(req, res, repo, route);
        case 'blob':
          return await serveBlob(req, res, repo, route, `${ns ?? ''} ${route.name}`);
        case 'uploads':
          return await startUpload(req, res, repo, query);
        case 'upload':
          return await serveUpload(req, res, repo, route.id, query);
        case 'tags':
          return await serveTags(req, res, repo, query);
        case 'referrers':
          return await serveReferrers(req, res, repo, route, query);
      }
    } catch (err) {
      fail(req, res, err, defaults);
    }
  };

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'registry handler failed');
      res.destroy();
    });
  };
}

/** The `Range` header of an upload with offset bytes: `0-<offset-1>` (`0-0` when empty, as distribution sends). */
function rangeHeader(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function methodNotAllowed(req: IncomingMessage, allowed: string) {
  return registryError('UNSUPPORTED', `method ${String(req.method).slice(0, 20)} is not supported here; use ${allowed}`, { status: 405 });
}
