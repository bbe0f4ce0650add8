import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GC_ROOT_LABEL } from '@strata/content';
import { readBlob, randomBytesOf, writeBlob } from '@strata/content/testing';
import { buildImage, pushImage, type BuiltImage } from '@strata/image-fixtures';
import { MediaTypes, digestOf, type Descriptor, type Digest, type ImageIndex } from '@strata/oci';
import { silentLogger } from '@strata/kit';
import { waitFor } from '@strata/kit/testing';
import type { RegistryBackend } from './registry-backend.js';
import { createRegistryHandler } from './registry-handler.js';
import { startRegistryServer } from './registry-server.js';
import { startTestRegistry, type TestRegistry } from './testing/test-registry.js';

const image: BuiltImage = await buildImage({
  layers: [{ items: [{ file: 'etc/hello', content: 'hello\n' }] }, { items: [{ file: 'etc/world', content: 'world\n' }] }],
});
let registry: TestRegistry;
beforeAll(async () => {
  registry = await startTestRegistry({ maxManifestBytes: 64 * 1024 });
  await pushImage(registry.url, 'app/web', 'v1', image);
});
afterAll(async () => {
  await registry?.close();
});

const api = (path: string, init: RequestInit = {}) => fetch(`${registry.url}${path}`, { redirect: 'manual', ...init });

interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
}

async function errorOf(response: Response): Promise<ErrorAnswer> {
  const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
  expect(body.errors).toHaveLength(1);
  return { status: response.status, code: body.errors[0]!.code, message: body.errors[0]!.message };
}

async function startUpload(name: string): Promise<string> {
  const res = await api(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  expect(res.status).toBe(202);
  await res.arrayBuffer();
  const location = res.headers.get('location')!;
  expect(location).toMatch(new RegExp(`^/v2/${name}/blobs/uploads/[0-9a-f-]{36}$`));
  expect(res.headers.get('docker-upload-uuid')).toBe(location.split('/').at(-1));
  expect(res.headers.get('range')).toBe('0-0');
  return location;
}

/** Pushes a manifest document (its JSON) by reference; returns the response. */
async function putManifest(name: string, reference: string, document: unknown, contentType: string = MediaTypes.ociManifest) {
  const body = typeof document === 'string' ? document : JSON.stringify(document);
  return api(`/v2/${name}/manifests/${reference}`, { method: 'PUT', body, headers: { 'content-type': contentType } });
}

async function pushBlob(name: string, bytes: Uint8Array): Promise<Digest> {
  const digest = digestOf(bytes);
  const res = await api(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
  expect(res.status).toBe(201);
  return digest;
}

describe('the base endpoint', () => {
  it('answers GET /v2/ with {} and the API version header', async () => {
    const res = await api('/v2/');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await res.json()).toEqual({});
  });
});

describe('manifests', () => {
  it('serves a pushed manifest by tag and by digest, GET and HEAD, with its media type, digest and length', async () => {
    for (const reference of ['v1', image.manifest.digest]) {
      const get = await api(`/v2/app/web/manifests/${reference}`);
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(MediaTypes.ociManifest);
      expect(get.headers.get('docker-content-digest')).toBe(image.manifest.digest);
      expect(get.headers.get('content-length')).toBe(String(image.manifest.size));
      expect(Buffer.compare(Buffer.from(await get.arrayBuffer()), image.manifest.bytes)).toBe(0);
      const head = await api(`/v2/app/web/manifests/${reference}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(image.manifest.digest);
      expect(head.headers.get('content-length')).toBe(String(image.manifest.size));
    }
  });

  it('keeps the Docker media type of a Docker manifest and answers 201 with Location and digest', async () => {
    const docker = await buildImage({ layers: [{ items: [{ file: 'docker', content: 'd' }] }], format: 'docker' });
    await pushImage(registry.url, 'app/docker', 'd1', docker);
    const res = await api(`/v2/app/docker/manifests/d1`);
    expect(res.headers.get('content-type')).toBe(MediaTypes.dockerManifest);
    const again = await putManifest('app/docker', 'd2', Buffer.from(docker.manifest.bytes).toString(), MediaTypes.dockerManifest);
    expect(again.status).toBe(201);
    expect(again.headers.get('location')).toBe(`/v2/app/docker/manifests/${docker.manifest.digest}`);
    expect(again.headers.get('docker-content-digest')).toBe(docker.manifest.digest);
  });

  it('labels manifests for garbage collection, and drops the root label when the last tag moves away', async () => {
    const other = await buildImage({ layers: [{ items: [{ file: 'x', content: 'x' }] }], annotations: { n: 'gc' } });
    await pushImage(registry.url, 'gc/test', 'moving', other);
    const labels = (await registry.store.info(other.manifest.digest)).labels;
    expect(labels[GC_ROOT_LABEL]).toBeDefined();
    expect(labels['strata.gc.ref.content.config']).toBe(other.config.digest);
    expect(labels['strata.gc.ref.content.l.0']).toBe(other.layers[0]!.digest);
    expect((await putManifest('gc/test', 'moving', image.manifestDocument)).status).toBe(201);
    expect((await registry.store.info(other.manifest.digest)).labels[GC_ROOT_LABEL]).toBeUndefined();
    expect((await registry.store.info(image.manifest.digest)).labels[GC_ROOT_LABEL]).toBeDefined();
  });

  it('deletes a tag, then a manifest by digest, after which neither is served', async () => {
    const doomed = await buildImage({ layers: [{ items: [{ file: 'doomed', content: 'd' }] }] });
    await pushImage(registry.url, 'app/doomed', 'a', doomed);
    expect((await putManifest('app/doomed', 'b', doomed.manifestDocument)).status).toBe(201);
    expect((await api('/v2/app/doomed/manifests/a', { method: 'DELETE' })).status).toBe(202);
    expect((await errorOf(await api('/v2/app/doomed/manifests/a'))).code).toBe('MANIFEST_UNKNOWN');
    expect((await api('/v2/app/doomed/manifests/b')).status).toBe(200);
    expect((await api(`/v2/app/doomed/manifests/${doomed.manifest.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await errorOf(await api('/v2/app/doomed/manifests/b'))).code).toBe('MANIFEST_UNKNOWN');
    expect((await errorOf(await api(`/v2/app/doomed/manifests/${doomed.manifest.digest}`))).code).toBe('MANIFEST_UNKNOWN');
  });
});

describe('blobs', () => {
  it('serves a blob whole, and ranges with 206 and Content-Range', async () => {
    const layer = image.layers[0]!;
    const whole = await api(`/v2/app/web/blobs/${layer.digest}`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('docker-content-digest')).toBe(layer.digest);
    expect(whole.headers.get('content-length')).toBe(String(layer.size));
    expect(Buffer.compare(Buffer.from(await whole.arrayBuffer()), layer.bytes)).toBe(0);

    const cases: Array<[string, number, number]> = [
      ['bytes=0-9', 0, 9],
      ['bytes=10-', 10, layer.size - 1],
      ['bytes=-5', layer.size - 5, layer.size - 1],
      [`bytes=3-${layer.size + 100}`, 3, layer.size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await api(`/v2/app/web/blobs/${layer.digest}`, { headers: { range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${layer.size}`);
      expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), Buffer.from(layer.bytes.subarray(start, end + 1))), range).toBe(0);
    }
    const head = await api(`/v2/app/web/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(layer.size));
  });

  it('answers an unsatisfiable range with 416 and Content-Range bytes */size', async () => {
    const layer = image.layers[0]!;
    const res = await api(`/v2/app/web/blobs/${layer.digest}`, { headers: { range: `bytes=${layer.size}-` } });
    expect(res.headers.get('content-range')).toBe(`bytes */${layer.size}`);
    expect(await errorOf(res)).toEqual({
      status: 416,
      code: 'RANGE_INVALID',
      message: `range bytes=${layer.size}- is outside blob ${layer.digest} of ${layer.size} bytes`,
    });
  });

  it('streams a blob larger than memory chunks (4 MiB) intact', async () => {
    const bytes = randomBytesOf(4 * 1024 * 1024 + 7);
    const digest = digestOf(bytes);
    await writeBlob(registry.store, bytes);
    const res = await api(`/v2/any/repo/blobs/${digest}`);
    expect(digestOf(Buffer.from(await res.arrayBuffer()))).toBe(digest);
  });

  it('deletes a blob with 202', async () => {
    const digest = await pushBlob('app/del', randomBytesOf(100));
    expect((await api(`/v2/app/del/blobs/${digest}`, { method: 'DELETE' })).status).toBe(202);
    const head = await api(`/v2/app/del/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
  });
});

describe('uploads', () => {
  it('takes a monolithic POST ?digest= with the body', async () => {
    const bytes = randomBytesOf(1000);
    const digest = await pushBlob('up/mono', bytes);
    expect(Buffer.compare(await readBlob(registry.store, digest), bytes)).toBe(0);
    expect(await registry.store.listStatuses(['ref~=^upload-'])).toEqual([]);
  });

  it('takes chunks by PATCH with Content-Range, reports status, refuses an out-of-order chunk with 416, and completes by PUT', async () => {
    const bytes = randomBytesOf(300_000);
    const digest = digestOf(bytes);
    const location = await startUpload('up/chunked');
    const first = await api(location, { method: 'PATCH', body: bytes.subarray(0, 100_000), headers: { 'content-range': '0-99999' } });
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-99999');
    expect(first.headers.get('location')).toBe(location);

    const skipped = await api(location, { method: 'PATCH', body: bytes.subarray(200_000), headers: { 'content-range': '200000-299999' } });
    expect(skipped.headers.get('range')).toBe('0-99999');
    expect(await errorOf(skipped)).toEqual({
      status: 416,
      code: 'RANGE_INVALID',
      message: `chunk starts at byte 200000, but blob upload ${location.split('/').at(-1)} has 100000 bytes; send the chunk that starts there`,
    });

    const second = await api(location, { method: 'PATCH', body: bytes.subarray(100_000, 200_000), headers: { 'content-range': '100000-199999' } });
    expect(second.headers.get('range')).toBe('0-199999');
    const status = await api(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-199999');

    const done = await api(`${location}?digest=${digest}`, { method: 'PUT', body: bytes.subarray(200_000), headers: { 'content-range': '200000-299999' } });
    expect(done.status).toBe(201);
    expect(done.headers.get('location')).toBe(`/v2/up/chunked/blobs/${digest}`);
    expect(done.headers.get('docker-content-digest')).toBe(digest);
    expect(Buffer.compare(await readBlob(registry.store, digest), bytes)).toBe(0);
    expect((await errorOf(await api(location))).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('takes a streamed PATCH without Content-Range (chunked transfer), then an empty PUT', async () => {
    const parts = [randomBytesOf(70_000), randomBytesOf(90_000), randomBytesOf(5)];
    const whole = Buffer.concat(parts);
    const location = await startUpload('up/streamed');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    });
    const patched = await api(location, { method: 'PATCH', body, duplex: 'half' } as RequestInit);
    expect(patched.status).toBe(202);
    expect(patched.headers.get('range')).toBe(`0-${whole.length - 1}`);
    const done = await api(`${location}?digest=${digestOf(whole)}`, { method: 'PUT' });
    expect(done.status).toBe(201);
    expect(Buffer.compare(await readBlob(registry.store, digestOf(whole)), whole)).toBe(0);
  });

  it('refuses a PUT whose digest does not match with DIGEST_INVALID, storing nothing and ending the session', async () => {
    const bytes = randomBytesOf(500);
    const wrong = digestOf(randomBytesOf(10));
    const location = await startUpload('up/bad');
    const res = await api(`${location}?digest=${wrong}`, { method: 'PUT', body: bytes });
    const answer = await errorOf(res);
    expect(answer).toMatchObject({ status: 400, code: 'DIGEST_INVALID' });
    expect(answer.message).toMatch(new RegExp(`^blob upload [0-9a-f-]{36} does not match digest ${wrong}: .*; nothing was stored$`));
    await expect(registry.store.info(digestOf(bytes))).rejects.toThrow(/not found/);
    await expect(registry.store.info(wrong)).rejects.toThrow(/not found/);
    expect((await errorOf(await api(location))).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('cancels an upload with DELETE', async () => {
    const location = await startUpload('up/cancel');
    expect((await api(location, { method: 'DELETE' })).status).toBe(204);
    expect(await errorOf(await api(location, { method: 'DELETE' }))).toEqual({
      status: 404,
      code: 'BLOB_UPLOAD_UNKNOWN',
      message: `blob upload ${location.split('/').at(-1)} unknown: it was completed, cancelled or never started`,
    });
  });

  it('mounts a blob another repository has with 201, and starts a normal upload when it does not', async () => {
    const layer = image.layers[1]!;
    const mounted = await api(`/v2/other/repo/blobs/uploads/?mount=${layer.digest}&from=app/web`, { method: 'POST' });
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get('location')).toBe(`/v2/other/repo/blobs/${layer.digest}`);
    expect(mounted.headers.get('docker-content-digest')).toBe(layer.digest);
    const missing = digestOf('not stored anywhere');
    const upload = await api(`/v2/other/repo/blobs/uploads/?mount=${missing}&from=app/web`, { method: 'POST' });
    expect(upload.status).toBe(202);
    expect(upload.headers.get('location')).toMatch(/^\/v2\/other\/repo\/blobs\/uploads\/[0-9a-f-]{36}$/);
  });
});

describe('tags/list', () => {
  it('pages with n and last, linking to the next page', async () => {
    const tags = ['a1', 'b2', 'c3', 'd4', 'e5'];
    for (const tag of tags) expect((await putManifest('paged/repo', tag, image.manifestDocument)).status).toBe(201);
    const all = await api('/v2/paged/repo/tags/list');
    expect(await all.json()).toEqual({ name: 'paged/repo', tags });
    expect(all.headers.get('link')).toBeNull();

    const seen: string[] = [];
    let next: string | undefined = '/v2/paged/repo/tags/list?n=2';
    const links: string[] = [];
    while (next !== undefined) {
      const res = await api(next);
      const page = (await res.json()) as { tags: string[] };
      seen.push(...page.tags);
      const link = res.headers.get('link');
      if (link !== null) links.push(link);
      next = link === null ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)![1];
    }
    expect(seen).toEqual(tags);
    expect(links).toEqual(['</v2/paged/repo/tags/list?n=2&last=b2>; rel="next"', '</v2/paged/repo/tags/list?n=2&last=d4>; rel="next"']);
    expect(await (await api('/v2/paged/repo/tags/list?n=10&last=e5')).json()).toEqual({ name: 'paged/repo', tags: [] });
  });
});

describe('referrers', () => {
  it('lists manifests whose subject is a digest, filtered by artifactType', async () => {
    const emptyConfig = Buffer.from('{}');
    const configDigest = await pushBlob('app/web', emptyConfig);
    const signature = await pushBlob('app/web', Buffer.from('signature'));
    const referrer = (artifactType: string, note: string) => ({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: emptyConfig.length },
      layers: [{ mediaType: 'application/octet-stream', digest: signature, size: 9 }],
      subject: { mediaType: MediaTypes.ociManifest, digest: image.manifest.digest, size: image.manifest.size },
      annotations: { note },
    });
    const sig = referrer('application/vnd.example.signature', 'sig');
    const sbom = referrer('application/vnd.example.sbom', 'sbom');
    const sigDigest = digestOf(JSON.stringify(sig));
    const pushed = await putManifest('app/web', sigDigest, sig);
    expect(pushed.status).toBe(201);
    expect(pushed.headers.get('oci-subject')).toBe(image.manifest.digest);
    expect((await putManifest('app/web', digestOf(JSON.stringify(sbom)), sbom)).status).toBe(201);

    const all = await api(`/v2/app/web/referrers/${image.manifest.digest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe(MediaTypes.ociIndex);
    const index = (await all.json()) as ImageIndex;
    expect(index.mediaType).toBe(MediaTypes.ociIndex);
    const expected = (document: typeof sig, type: string): Descriptor => ({
      mediaType: MediaTypes.ociManifest,
      digest: digestOf(JSON.stringify(document)),
      size: JSON.stringify(document).length,
      artifactType: type,
      annotations: document.annotations,
    });
    expect(index.manifests).toHaveLength(2);
    expect(index.manifests).toEqual(
      expect.arrayContaining([expected(sig, 'application/vnd.example.signature'), expected(sbom, 'application/vnd.example.sbom')]),
    );

    const filtered = await api(`/v2/app/web/referrers/${image.manifest.digest}?artifactType=application/vnd.example.sbom`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as ImageIndex).manifests).toEqual([expected(sbom, 'application/vnd.example.sbom')]);
    const none = await api(`/v2/app/web/referrers/${digestOf('no subject')}`);
    expect(((await none.json()) as ImageIndex).manifests).toEqual([]);
  });
});

interface RawInit {
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

/**
 * Sends a request with node:http, the path exactly as given (fetch resolves
 * `..` segments, and refuses headers this big).
 */
function rawRequest(method: string, path: string, init: RawInit = {}): Promise<{ status: number; body: string }> {
  const url = new URL(registry.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: init.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('hostile and malformed requests', () => {
  const layerDescriptor = () => image.manifestDocument.layers[0]!;
  const absent = digestOf('absent');
  type Case = [string, string, string, RawInit | (() => RawInit), number, string, string | RegExp];
  const cases: Case[] = [
    ['unknown repository tag', 'GET', '/v2/no/such/manifests/latest', {}, 404, 'MANIFEST_UNKNOWN', 'manifest unknown: no/such:latest is not tagged'],
    ['unknown manifest digest', 'GET', `/v2/app/web/manifests/${absent}`, {}, 404, 'MANIFEST_UNKNOWN', `manifest unknown: ${absent} not found`],
    ['unknown blob', 'GET', `/v2/app/web/blobs/${absent}`, {}, 404, 'BLOB_UNKNOWN', `blob unknown: ${absent} not found`],
    ['upper-case name', 'GET', '/v2/App/web/manifests/v1', {}, 400, 'NAME_INVALID', 'invalid repository name "App/web": repository name must be lowercase'],
    [
      'name with ..',
      'GET',
      '/v2/app/../etc/manifests/v1',
      {},
      400,
      'NAME_INVALID',
      'invalid repository name "app/../etc": use lower-case letters and digits, separated by ".", "_", "__" or "-", in components joined by "/"',
    ],
    ['digest with ../..', 'GET', '/v2/app/web/blobs/sha256:..%2F..', {}, 400, 'DIGEST_INVALID', 'invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>'],
    ['short digest', 'GET', '/v2/app/web/manifests/sha256:abc', {}, 400, 'DIGEST_INVALID', 'invalid digest "sha256:abc": sha256 needs 64 hex characters, got 3'],
    ['bad tag', 'PUT', '/v2/app/web/manifests/-bad', {}, 400, 'TAG_INVALID', 'invalid tag "-bad": use 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -'],
    ['upload id with ../', 'GET', '/v2/app/web/blobs/uploads/..%2F..%2Fx', {}, 404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload "../../x" unknown: upload ids are UUIDs'],
    ['a path with .. segments', 'GET', '/v2/app/web/blobs/uploads/../../x', {}, 404, 'UNSUPPORTED', 'no endpoint of the registry API at "/v2/app/web/blobs/uploads/../../x"'],
    ['upload id not a uuid', 'PATCH', '/v2/app/web/blobs/uploads/abc', {}, 404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload "abc" unknown: upload ids are UUIDs'],
    [
      'unknown upload',
      'PATCH',
      '/v2/app/web/blobs/uploads/00000000-0000-4000-8000-000000000000',
      {},
      404,
      'BLOB_UPLOAD_UNKNOWN',
      'blob upload 00000000-0000-4000-8000-000000000000 unknown: it was completed, cancelled or never started',
    ],
    ['tags of an unknown repository', 'GET', '/v2/nobody/tags/list', {}, 404, 'NAME_UNKNOWN', 'repository nobody not known: it has no tags'],
    ['negative n', 'GET', '/v2/app/web/tags/list?n=-1', {}, 400, 'PAGINATION_NUMBER_INVALID', 'n="-1" is not a whole number of tags, 0 or more'],
    ['a monolithic POST with a malformed digest', 'POST', '/v2/app/web/blobs/uploads/?digest=sha256:xyz', {}, 400, 'DIGEST_INVALID', /^invalid digest "sha256:xyz"/],
    ['not an endpoint', 'GET', '/v2/app/web/nothing', {}, 404, 'UNSUPPORTED', 'no endpoint of the registry API at "/v2/app/web/nothing"'],
    ['wrong method', 'POST', '/v2/app/web/manifests/v1', {}, 405, 'UNSUPPORTED', 'method POST is not supported here; use GET, HEAD, PUT, DELETE'],
    [
      'malformed JSON manifest',
      'PUT',
      '/v2/app/web/manifests/x',
      { body: '{"schemaVersion": 2,', headers: { 'content-type': MediaTypes.ociManifest } },
      400,
      'MANIFEST_INVALID',
      /^manifest is not valid JSON/,
    ],
    [
      'a layer media type as Content-Type',
      'PUT',
      '/v2/app/web/manifests/x',
      () => ({ body: JSON.stringify(image.manifestDocument), headers: { 'content-type': MediaTypes.ociLayerGzip } }),
      400,
      'MANIFEST_INVALID',
      `Content-Type "${MediaTypes.ociLayerGzip}" is not an image manifest or index media type`,
    ],
    [
      'manifest pushed as an index',
      'PUT',
      '/v2/app/web/manifests/x',
      () => ({ body: JSON.stringify(image.manifestDocument), headers: { 'content-type': MediaTypes.ociIndex } }),
      400,
      'MANIFEST_INVALID',
      `manifest mediaType "${MediaTypes.ociManifest}" disagrees with its Content-Type "${MediaTypes.ociIndex}"; refused (CVE-2021-41190)`,
    ],
    [
      'manifest and index at once',
      'PUT',
      '/v2/app/web/manifests/x',
      () => ({
        body: JSON.stringify({ schemaVersion: 2, config: image.manifestDocument.config, layers: [], manifests: [] }),
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'MANIFEST_INVALID',
      'manifest has both "manifests" and "layers"/"config"; a document must be an image manifest or an image index, not both (CVE-2021-41190)',
    ],
    [
      'a layer that is not stored',
      'PUT',
      '/v2/app/web/manifests/x',
      () => ({
        body: JSON.stringify({ ...image.manifestDocument, layers: [{ ...layerDescriptor(), digest: absent }] }),
        headers: { 'content-type': MediaTypes.ociManifest },
      }),
      400,
      'MANIFEST_BLOB_UNKNOWN',
      `manifest references blob ${absent}, which is not stored; push it first`,
    ],
    [
      'a layer of the wrong size',
      'PUT',
      '/v2/app/web/manifests/x',
      () => ({
        body: JSON.stringify({ ...image.manifestDocument, layers: [{ ...layerDescriptor(), size: 1 }] }),
        headers: { 'content-type': MediaTypes.ociManifest },
      }),
      400,
      'MANIFEST_INVALID',
      `manifest says ${layerDescriptor().digest} has 1 bytes; it has ${layerDescriptor().size}`,
    ],
    [
      'a manifest pushed under another digest',
      'PUT',
      `/v2/app/web/manifests/${absent}`,
      () => ({ body: Buffer.from(image.manifest.bytes), headers: { 'content-type': MediaTypes.ociManifest } }),
      400,
      'DIGEST_INVALID',
      `manifest has digest ${image.manifest.digest}, not the ${absent} it was pushed as`,
    ],
    [
      'an oversized manifest',
      'PUT',
      '/v2/app/web/manifests/big',
      { body: Buffer.alloc(64 * 1024 + 1, 0x20), headers: { 'content-type': MediaTypes.ociManifest } },
      413,
      'MANIFEST_INVALID',
      `manifest is ${64 * 1024 + 1} bytes, over the limit of ${64 * 1024} bytes`,
    ],
    [
      'a blob digest on the manifests endpoint',
      'GET',
      `/v2/app/web/manifests/${image.manifestDocument.layers[0]!.digest}`,
      {},
      404,
      'MANIFEST_UNKNOWN',
      `manifest unknown: ${image.manifestDocument.layers[0]!.digest} is a blob, not a manifest`,
    ],
    [
      'a malformed Content-Range',
      'PATCH',
      '/v2/app/web/blobs/uploads/UPLOAD',
      { body: 'abc', headers: { 'content-range': 'bytes=0-2' } },
      400,
      'BLOB_UPLOAD_INVALID',
      'Content-Range "bytes=0-2" is not <start>-<end>',
    ],
    [
      'a Content-Range that disagrees with Content-Length',
      'PATCH',
      '/v2/app/web/blobs/uploads/UPLOAD',
      { body: 'abc', headers: { 'content-range': '0-9', 'content-length': '3' } },
      400,
      'SIZE_INVALID',
      'Content-Range says 10 bytes but Content-Length says 3',
    ],
    [
      'a PUT that completes an upload without ?digest=',
      'PUT',
      '/v2/app/web/blobs/uploads/UPLOAD',
      {},
      400,
      'DIGEST_INVALID',
      'a PUT that completes an upload needs the ?digest= of the whole blob',
    ],
    ['an ns= that is no registry host', 'GET', '/v2/app/web/tags/list?ns=a%20b', {}, 400, 'NAME_INVALID', 'ns="a b" is not a registry host name'],
    ['a mount from an invalid name', 'POST', `/v2/app/web/blobs/uploads/?mount=${absent}&from=Up/Per`, {}, 400, 'NAME_INVALID', 'invalid repository name "Up/Per": repository name must be lowercase'],
  ];

  it.each(cases)('%s', async (_what, method, path, init, status, code, message) => {
    let target = path;
    if (path.includes('UPLOAD')) target = path.replace('UPLOAD', (await startUpload('app/web')).split('/').at(-1)!);
    const res = await rawRequest(method, target, typeof init === 'function' ? init() : init);
    expect(res.status).toBe(status);
    const answer = JSON.parse(res.body) as { errors: Array<{ code: string; message: string }> };
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors[0]!.code).toBe(code);
    if (typeof message === 'string') expect(answer.errors[0]!.message).toBe(message);
    else expect(answer.errors[0]!.message).toMatch(message);
  });

  it('answers headers over 16 KiB with 431 and a JSON error, and keeps serving', async () => {
    const res = await rawRequest('GET', '/v2/', { headers: { 'x-huge': 'a'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toEqual({ errors: [{ code: 'SIZE_INVALID', message: 'request headers are too large' }] });
    expect((await api('/v2/')).status).toBe(200);
  });

  it('keeps what a client sent before it went away, and the upload resumes from there', async () => {
    const location = await startUpload('up/aborted');
    const url = new URL(registry.url);
    const sent = randomBytesOf(300_000);
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: url.hostname, port: url.port, method: 'PATCH', path: location, headers: { 'transfer-encoding': 'chunked' } });
      req.on('error', () => undefined);
      req.on('close', () => resolve());
      req.write(sent, () => setTimeout(() => req.destroy(), 200));
    });
    let offset = 0;
    await waitFor(
      async () => {
        const status = await api(location);
        offset = Number(status.headers.get('range')!.split('-')[1]) + 1;
        return offset === sent.length;
      },
      () => `the upload to reach ${sent.length} bytes (it has ${offset})`,
      3000,
    );
    const rest = randomBytesOf(10);
    const digest = digestOf(Buffer.concat([sent, rest]));
    const done = await api(`${location}?digest=${digest}`, { method: 'PUT', body: rest, headers: { 'content-range': `${sent.length}-${sent.length + 9}` } });
    expect(done.status).toBe(201);
    expect((await api('/v2/')).status).toBe(200);
  });

  it('answers a HEAD error with the status and no body', async () => {
    const res = await api(`/v2/app/web/manifests/${digestOf('none')}`, { method: 'HEAD' });
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('');
  });
});

/**
 * A handler over the test registry's local backend whose repositories
 * record the manifest and blob calls they get and, like a mirror's, answer
 * a manifest asked for whileStoring with a `stored` that settles only when
 * settle() is called, and any other manifest GET only after that.
 */
async function startWatchedRegistry() {
  const calls: string[] = [];
  let settle!: (err?: Error) => void;
  const stored = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
  const backend: RegistryBackend = {
    async repository(name, options) {
      const repo = await registry.backend.repository(name, options);
      return {
        ...repo,
        async getManifest(reference, getOptions) {
          const manifest = await repo.getManifest(reference);
          calls.push(getOptions?.whileStoring === true ? 'getManifest whileStoring' : 'getManifest');
          if (getOptions?.whileStoring === true) return { ...manifest, stored };
          await stored;
          return manifest;
        },
        statBlob(digest) {
          calls.push('statBlob');
          return repo.statBlob(digest);
        },
        openBlob(digest, range) {
          calls.push(range === undefined ? 'openBlob' : `openBlob ${range.offset}+${range.length}`);
          return repo.openBlob(digest, range);
        },
      };
    },
  };
  const server = await startRegistryServer({ port: 0, handler: createRegistryHandler({ backend, logger: silentLogger() }), logger: silentLogger() });
  return { url: server.url, calls, settle, close: () => server.close() };
}

describe('the work a pull asks of the backend', () => {
  it('answers a manifest GET while the backend is still storing it, and keeps serving when storing fails', async () => {
    const watched = await startWatchedRegistry();
    try {
      const get = await fetch(`${watched.url}/v2/app/web/manifests/v1`);
      expect(get.status).toBe(200);
      expect(Buffer.compare(Buffer.from(await get.arrayBuffer()), image.manifest.bytes)).toBe(0);
      expect(watched.calls).toEqual(['getManifest whileStoring']);
      watched.settle(new Error('store down'));
      expect((await fetch(`${watched.url}/v2/`)).status).toBe(200);
    } finally {
      await watched.close();
    }
  });

  it('opens a whole blob for a GET without looking up its size first, and looks it up for a range or a HEAD', async () => {
    const watched = await startWatchedRegistry();
    try {
      const layer = image.layers[0]!;
      const whole = await fetch(`${watched.url}/v2/app/web/blobs/${layer.digest}`);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('content-length')).toBe(String(layer.size));
      expect(whole.headers.get('docker-content-digest')).toBe(layer.digest);
      expect(Buffer.compare(Buffer.from(await whole.arrayBuffer()), layer.bytes)).toBe(0);
      expect(watched.calls).toEqual(['openBlob']);

      const range = await fetch(`${watched.url}/v2/app/web/blobs/${layer.digest}`, { headers: { range: 'bytes=0-9' } });
      expect(range.status).toBe(206);
      await range.arrayBuffer();
      const head = await fetch(`${watched.url}/v2/app/web/blobs/${layer.digest}`, { method: 'HEAD' });
      expect(head.headers.get('content-length')).toBe(String(layer.size));
      expect(watched.calls).toEqual(['openBlob', 'statBlob', 'openBlob 0+10', 'statBlob']);

      const unknown = await fetch(`${watched.url}/v2/app/web/blobs/${digestOf('none')}`);
      expect(await errorOf(unknown)).toEqual({ status: 404, code: 'BLOB_UNKNOWN', message: `blob unknown: ${digestOf('none')} not found` });
    } finally {
      await watched.close();
    }
  });
});
