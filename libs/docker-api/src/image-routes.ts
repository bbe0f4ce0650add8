import { ImagesService, type ImageSummary, type Platform as ProtoPlatform } from '@strata/api/images/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { invalidArgument, isNotFound, isStrataError } from '@strata/kit';
import { isDigest, parsePlatform, parseReference } from '@strata/oci';
import { dockerError } from './docker-error.js';
import { checkFilterNames, queryBool, queryFilters } from './docker-query.js';
import type { DockerContext, DockerRoute } from './docker-router.js';
import { dockerHistory, dockerImageInspect, dockerImageSummary, familiarRef } from './image-views.js';
import { createPullMessages, errorMessage, type DockerJsonMessage } from './pull-messages.js';

/** What the image routes translate onto. */
export interface ImageRoutesDeps {
  /** A client of the registry-mirror's `Images` service. */
  images: RpcClient;
}

/** The `filters` of `GET /images/json` Strata answers. */
export const IMAGE_LIST_FILTERS = ['before', 'dangling', 'label', 'reference', 'since'] as const;

const IMAGE_ID = /^(?:sha256:[a-f0-9]{1,64}|[a-f0-9]{12,64})$/;

/**
 * Checks the name of an image that is here, as Docker's path parameter:
 * an image id (`sha256:<hex>` or at least 12 hex digits of one) or a
 * reference (`busybox`, `ghcr.io/org/app:1`, `app@sha256:…`). Returns it
 * unchanged; InvalidArgument with Docker's text for a malformed reference
 * (`invalid reference format: repository name must be lowercase`).
 */
export function checkImageName(name: string): string {
  if (!IMAGE_ID.test(name)) parseReference(name);
  return name;
}

/**
 * The reference `POST /images/create` pulls, as Docker's daemon reads
 * fromImage and tag: tag is a tag (`fromImage=busybox&tag=1.36`) or a digest
 * (`tag=sha256:…`, what the docker CLI sends for `busybox@sha256:…`), and
 * replaces the tag fromImage may carry; without tag, fromImage as it is
 * (its own tag, or `latest`). InvalidArgument with Docker's texts for a
 * malformed name or tag; DockerError 400 when fromImage is missing, 501 for
 * `fromSrc` (importing a root filesystem is `strata image import`).
 */
export function pullReference(query: URLSearchParams): string {
  const fromImage = query.get('fromImage') ?? '';
  if (fromImage === '') {
    if ((query.get('fromSrc') ?? '') !== '') {
      throw dockerError(501, 'importing a root filesystem (fromSrc) is not supported by the Docker API of Strata; use strata image import');
    }
    throw dockerError(400, 'fromImage is required: the image to pull, e.g. fromImage=busybox&tag=latest');
  }
  const ref = parseReference(fromImage);
  const tag = query.get('tag') ?? '';
  if (tag === '') return ref.toString();
  if (isDigest(tag)) return parseReference(`${ref.name}@${tag}`).toString();
  if (ref.digest !== undefined) return parseReference(`${ref.name}:${tag}`).toString();
  return ref.withTag(tag).toString();
}

/** The `platform` query parameter (`linux/arm64`) as the Images API's Platform; undefined when absent. */
function platformOf(query: URLSearchParams): ProtoPlatform | undefined {
  const text = query.get('platform') ?? '';
  if (text === '') return undefined;
  const p = parsePlatform(text);
  return { os: p.os, architecture: p.architecture, variant: p.variant ?? '' };
}

/** Runs fn, turning the mirror's NotFound for name into Docker's `No such image: <name>` (404). */
async function onImage<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) throw dockerError(404, `No such image: ${name}`, { cause: err });
    throw err;
  }
}

/**
 * The mirror's list filters for Docker's `filters`: reference, label,
 * before and since pass through as `key=value`; dangling is answered here
 * (`true`: images without tags, `false`: tagged ones). DockerError 400 for
 * another filter (`invalid filter 'x'`) or a dangling value that is not a
 * boolean.
 */
export function imageListFilters(query: URLSearchParams): { filters: string[]; dangling?: boolean } {
  const parsed = queryFilters(query);
  checkFilterNames(parsed, IMAGE_LIST_FILTERS);
  const filters: string[] = [];
  let dangling: boolean | undefined;
  for (const [key, values] of parsed) {
    if (key !== 'dangling') {
      filters.push(...values.map((v) => `${key}=${v}`));
      continue;
    }
    for (const v of values) {
      const value = ['1', 'true'].includes(v.toLowerCase()) ? true : ['0', 'false'].includes(v.toLowerCase()) ? false : undefined;
      if (value === undefined) throw dockerError(400, `invalid filter 'dangling=${v}'`);
      dangling = value;
    }
  }
  return { filters, ...(dangling === undefined ? {} : { dangling }) };
}

async function pull(ctx: DockerContext, images: RpcClient): Promise<void> {
  const ref = pullReference(ctx.query);
  const platform = platformOf(ctx.query);
  const { res } = ctx;
  const messages = createPullMessages();
  let closed = false;
  res.once('close', () => (closed = true));
  const write = (message: DockerJsonMessage) => {
    if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(`${JSON.stringify(message)}\n`);
  };
  try {
    for await (const event of images.serverStream(ImagesService.pull, { ref, platform })) {
      if (closed) break;
      for (const message of messages.next(event)) write(message);
    }
  } catch (err) {
    // Before the first line the server answers with the error's status, as Docker's daemon does.
    if (!res.headersSent) throw err;
    if (isStrataError(err)) ctx.logger.debug({ err: err.message, ref }, 'pull failed after it started');
    else ctx.logger.error({ err, ref }, 'pull failed after it started');
    write(errorMessage(isStrataError(err) ? err.message : 'the pull failed; see the node-agent log'));
  }
  if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end();
}

async function list(ctx: DockerContext, images: RpcClient): Promise<void> {
  const { filters, dangling } = imageListFilters(ctx.query);
  const response = await images.unary(ImagesService.list, { filters });
  const kept = response.images.filter((i: ImageSummary) => dangling === undefined || dangling === (i.repoTags.length === 0));
  ctx.json(200, kept.map(dockerImageSummary));
}

async function inspect(ctx: DockerContext, images: RpcClient): Promise<void> {
  const name = checkImageName(ctx.params.name ?? '');
  const { image } = await onImage(name, () => images.unary(ImagesService.inspect, { ref: name }));
  if (image === undefined) throw dockerError(404, `No such image: ${name}`);
  ctx.json(200, dockerImageInspect(image));
}

async function history(ctx: DockerContext, images: RpcClient): Promise<void> {
  const name = checkImageName(ctx.params.name ?? '');
  const [inspected, steps] = await onImage(name, () =>
    Promise.all([images.unary(ImagesService.inspect, { ref: name }), images.unary(ImagesService.history, { ref: name })]),
  );
  ctx.json(200, dockerHistory(steps.history, { id: inspected.image?.id ?? '', repoTags: inspected.image?.repoTags ?? [] }));
}

/**
 * The target of `POST /images/{name}/tag`: repo with tag (`latest` when
 * empty). InvalidArgument with Docker's texts for a malformed repository or
 * tag, and `refusing to create a tag with a digest reference` for a digest.
 */
export function tagTarget(query: URLSearchParams): string {
  const repo = query.get('repo') ?? '';
  const tag = query.get('tag') ?? '';
  const ref = parseReference(repo);
  if (ref.digest !== undefined || isDigest(tag)) {
    throw invalidArgument('refusing to create a tag with a digest reference', { fields: { ref: repo } });
  }
  return (tag === '' ? ref : ref.withTag(tag)).toString();
}

async function tag(ctx: DockerContext, images: RpcClient): Promise<void> {
  const name = checkImageName(ctx.params.name ?? '');
  const target = tagTarget(ctx.query);
  await onImage(name, () => images.unary(ImagesService.tag, { source: name, target }));
  ctx.json(201);
}

async function remove(ctx: DockerContext, images: RpcClient): Promise<void> {
  const name = checkImageName(ctx.params.name ?? '');
  const force = queryBool(ctx.query, 'force');
  queryBool(ctx.query, 'noprune');
  const removed = await onImage(name, () => images.unary(ImagesService.delete, { ref: name, force }));
  ctx.json(200, [...removed.untagged.map((u) => ({ Untagged: familiarRef(u) })), ...removed.deleted.map((d) => ({ Deleted: d }))]);
}

/**
 * The image endpoints, translated onto the registry-mirror's Images service
 * as the `strata` image commands call it: `POST /images/create` (pull with
 * Docker's JSON progress lines; errors before the first line as an HTTP
 * status, later ones as an `errorDetail` line), `GET /images/json`,
 * `GET /images/{name}/json`, `GET /images/{name}/history`,
 * `POST /images/{name}/tag` (201), `DELETE /images/{name}`. Names may hold
 * slashes, tags and digests. Errors: 400 with Docker's reference texts,
 * 404 `No such image: <name>`, 409 when a delete needs force, 503 when the
 * mirror cannot be reached.
 */
export function imageRoutes(deps: ImageRoutesDeps): DockerRoute[] {
  const { images } = deps;
  return [
    { method: 'POST', path: '/images/create', handle: (ctx) => pull(ctx, images) },
    { method: 'GET', path: '/images/json', handle: (ctx) => list(ctx, images) },
    { method: 'GET', path: '/images/{name:*}/json', handle: (ctx) => inspect(ctx, images) },
    { method: 'GET', path: '/images/{name:*}/history', handle: (ctx) => history(ctx, images) },
    { method: 'POST', path: '/images/{name:*}/tag', handle: (ctx) => tag(ctx, images) },
    { method: 'DELETE', path: '/images/{name:*}', handle: (ctx) => remove(ctx, images) },
  ];
}
