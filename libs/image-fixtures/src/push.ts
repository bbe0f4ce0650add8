import { StrataError, invalidArgument, unavailable, type ErrorKind } from '@strata/kit';
import { isRepositoryPath, isTag, type Descriptor } from '@strata/oci';
import { topDocument, type BuiltArtifact, type BuiltImage } from './image.js';
import type { ImageBlob } from './layer.js';

/** User name and password for HTTP basic auth. */
export interface BasicCredentials {
  username: string;
  password: string;
}

/** Settings of {@link pushImage}. */
export interface PushOptions {
  /** Sent as basic auth to the registry's own origin (never to another host a Location points at). */
  credentials?: BasicCredentials;
  /** Upload blobs the registry already has (HEAD answers 200) again; false by default. */
  force?: boolean;
}

/** What {@link pushImage} did. */
export interface PushResult {
  /** The descriptor of the document the tag now names. */
  descriptor: Descriptor;
  /** Digests of blobs uploaded (skipped ones not included). */
  uploaded: string[];
}

function kindOfStatus(status: number): ErrorKind {
  if (status === 400) return 'InvalidArgument';
  if (status === 401) return 'Unauthenticated';
  if (status === 403) return 'PermissionDenied';
  if (status === 404) return 'NotFound';
  if (status === 429 || status >= 500) return 'Unavailable';
  return 'Unknown';
}

/**
 * Pushes a built image or index to an OCI distribution registry at
 * registryUrl (`http://127.0.0.1:5000`): each missing blob by a monolithic
 * upload (POST, then PUT `?digest=` with the bytes), the manifests of an
 * index by digest, then the top document by tag, each with its media type
 * as Content-Type. Raises InvalidArgument for a malformed repository or tag,
 * Unavailable when the registry cannot be reached, and for a refused request
 * an error of the kind its status maps to (401 Unauthenticated, 403
 * PermissionDenied, 404 NotFound, 400 InvalidArgument, 5xx Unavailable)
 * whose message names the request and quotes the registry's answer.
 */
export async function pushImage(
  registryUrl: string,
  repository: string,
  tag: string,
  artifact: BuiltArtifact,
  options: PushOptions = {},
): Promise<PushResult> {
  if (!isRepositoryPath(repository)) throw invalidArgument(`invalid repository name ${JSON.stringify(repository)}`);
  if (!isTag(tag)) throw invalidArgument(`invalid tag ${JSON.stringify(tag)}`);
  const base = new URL(registryUrl);
  const auth =
    options.credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`;

  const request = async (method: string, url: URL, init: { body?: Uint8Array; contentType?: string } = {}): Promise<Response> => {
    const headers: Record<string, string> = {};
    if (auth !== undefined && url.origin === base.origin) headers.authorization = auth;
    if (init.contentType !== undefined) headers['content-type'] = init.contentType;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, redirect: 'manual', ...(init.body === undefined ? {} : { body: init.body }) });
    } catch (cause) {
      throw unavailable(`push to ${base.host}: ${method} ${url.pathname} failed: ${(cause as Error).message}`, { cause });
    }
    return response;
  };
  const refuse = async (method: string, url: URL, response: Response): Promise<never> => {
    const body = (await response.text().catch(() => '')).trim().slice(0, 300);
    throw new StrataError(
      kindOfStatus(response.status),
      `push to ${base.host}: ${method} ${url.pathname} answered ${response.status} ${response.statusText}${body === '' ? '' : `: ${body}`}`,
      { fields: { status: response.status, repository } },
    );
  };
  const uploaded: string[] = [];

  const pushBlob = async (content: ImageBlob) => {
    if (options.force !== true) {
      const head = new URL(`/v2/${repository}/blobs/${content.digest}`, base);
      const exists = await request('HEAD', head);
      await exists.arrayBuffer();
      if (exists.status === 200) return;
    }
    const start = new URL(`/v2/${repository}/blobs/uploads/`, base);
    const started = await request('POST', start);
    if (started.status !== 202) await refuse('POST', start, started);
    await started.arrayBuffer();
    const location = started.headers.get('location');
    if (location === null) throw new StrataError('Unknown', `push to ${base.host}: POST ${start.pathname} answered 202 without a Location`);
    const put = new URL(location, base);
    put.searchParams.set('digest', content.digest);
    const done = await request('PUT', put, { body: content.bytes, contentType: 'application/octet-stream' });
    if (done.status !== 201) await refuse('PUT', put, done);
    await done.arrayBuffer();
    uploaded.push(content.digest);
  };

  const pushManifest = async (content: ImageBlob, reference: string) => {
    const url = new URL(`/v2/${repository}/manifests/${reference}`, base);
    const response = await request('PUT', url, { body: content.bytes, contentType: content.mediaType });
    if (response.status !== 201) await refuse('PUT', url, response);
    await response.arrayBuffer();
  };

  const pushImageBlobs = async (image: BuiltImage) => {
    for (const content of image.blobs) await pushBlob(content);
  };

  if (artifact.kind === 'index') {
    for (const image of artifact.images) {
      await pushImageBlobs(image);
      await pushManifest(image.manifest, image.manifest.digest);
    }
  } else {
    await pushImageBlobs(artifact);
  }
  const top = topDocument(artifact);
  await pushManifest(top, tag);
  return { descriptor: { mediaType: top.mediaType, digest: top.digest, size: top.size }, uploaded };
}
