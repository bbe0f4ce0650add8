import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import { createFsContent, fsLayout } from '@strata/content-fs';
import { wrapWriters } from '@strata/content/testing';
import { createMemoryTagStore } from '@strata/images/testing';
import { createRegistryClient } from '@strata/distribution-client';
import {
  allBlobs,
  buildImage,
  busyboxImage,
  multiLayerImage,
  multiPlatformIndex,
  pushImage,
  topDocument,
  writeOciLayout,
  type BuiltArtifact,
  type BuiltImage,
  type TestDistributionRegistry,
  startDistributionRegistry,
} from '@strata/image-fixtures';
import { digestHex, type ImageIndex } from '@strata/oci';
import { createLocalBackend, createRegistryHandler, startRegistryServer } from '@strata/registry-http';
import type { Store } from '@strata/content';
import type { TagStore } from '@strata/images';
import { UPSTREAM_LABEL, UPSTREAM_REPOSITORY_LABEL } from './blob-fetcher.js';
import { createMirrorBackend } from './mirror-backend.js';

const run = promisify(execFile);
const scratch = tempDir('strata-registry-proxy-');
let dirs = 0;
const freshDir = () => join(scratch.path, `d${++dirs}`);

interface Mirror {
  url: string;
  host: string;
  store: Store;
  tags: TagStore;
}

let upstream: TestDistributionRegistry;
const cleanups: Array<() => Promise<void>> = [];
let busybox: BuiltImage;
let multi: BuiltImage;

/**
 * A mirror of the test upstream: as the default upstream under its own host, and as `upstream.test` (the same registry)
 * for ns= and prefixes. With imports, cold blobs read by clients are spooled into the store's imports directory and
 * imported, as `strata up` sets the mirror up beside its layer-store.
 */
async function startMirror(tagTtlSeconds = 60, imports = false): Promise<Mirror> {
  const logger = silentLogger();
  const root = tempDir('strata-registry-proxy-store-');
  const content = await createFsContent({ root: root.path, logger });
  const tags = createMemoryTagStore();
  const upstreams = createRegistryClient({
    upstreams: [{ host: upstream.host }, { host: 'upstream.test', endpoint: upstream.url }],
    logger,
    fetchTimeoutMs: 5000,
  });
  const local = createLocalBackend({ store: content.store, tags, logger });
  const backend = createMirrorBackend({
    ...{ store: content.store, tags, upstreams, local, defaultUpstream: upstream.host, tagTtlSeconds, spoolDir: scratch.path, logger },
    ...(imports ? { importsDir: fsLayout(root.path).imports } : {}),
  });
  const server = await startRegistryServer({ port: 0, handler: createRegistryHandler({ backend, logger }), logger });
  cleanups.push(async () => {
    await server.close();
    upstreams.close();
    await content.store.close();
    await tags.close();
    root.remove();
  });
  return { url: server.url, host: `127.0.0.1:${server.port}`, store: content.store, tags };
}

async function skopeo(...args: string[]): Promise<void> {
  await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', ...args], { timeout: 60_000 });
}

/** Copies reference out of the mirror into an OCI layout and checks every blob is byte-identical to the artifact's. */
async function pullThrough(mirror: Mirror, reference: string, artifact: BuiltArtifact, all = false): Promise<void> {
  const target = freshDir();
  await skopeo(...(all ? ['--all'] : []), `docker://${mirror.host}/${reference}`, `oci:${target}:pulled`);
  for (const blob of allBlobs(artifact)) {
    const copied = await readFile(join(target, 'blobs', 'sha256', digestHex(blob.digest)));
    expect(Buffer.compare(copied, blob.bytes), `${blob.mediaType} ${blob.digest}`).toBe(0);
  }
  const index = JSON.parse(await readFile(join(target, 'index.json'), 'utf8')) as ImageIndex;
  expect(index.manifests.map((m) => m.digest)).toEqual([topDocument(artifact).digest]);
}

/** The upstream's requests for repository since the last clear, as `METHOD path` with the digest or tag. */
async function upstreamRequests(repository: string): Promise<string[]> {
  await upstream.settleRequestLog();
  return upstream
    .requestLog()
    .filter((r) => r.path.startsWith(`/v2/${repository}/`))
    .map((r) => `${r.method} ${r.path.slice(`/v2/${repository}/`.length)}`);
}

async function errorOf(response: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
  return { status: response.status, code: body.errors[0]!.code, message: body.errors[0]!.message };
}

/** Whether store holds digest. */
async function stored(store: Store, digest: string): Promise<boolean> {
  return store.info(digest as never).then(
    () => true,
    () => false,
  );
}

function blobPath(digest: string): string {
  const hex = digestHex(digest as never);
  return join(upstream.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

beforeAll(async () => {
  upstream = await startDistributionRegistry();
  busybox = await busyboxImage();
  multi = await multiLayerImage();
  await pushImage(upstream.url, 'team/busybox', '1.36', busybox);
  await pushImage(upstream.url, 'team/multi', 'latest', multi);
  await pushImage(upstream.url, 'multi', 'latest', await multiPlatformIndex());
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await upstream?.stop();
  scratch.remove();
});

describe('the mirror backend against a distribution registry', () => {
  it('pulls busybox through the mirror cold (tag by HEAD only) and warm (nothing upstream), byte for byte', async () => {
    const mirror = await startMirror();
    upstream.clearRequestLog();
    await pullThrough(mirror, 'team/busybox:1.36', busybox);
    const cold = await upstreamRequests('team/busybox');
    expect(cold.filter((r) => r.includes('manifests/1.36'))).toEqual(['HEAD manifests/1.36']);
    expect(cold.filter((r) => r.startsWith('GET manifests/'))).toEqual([`GET manifests/${busybox.manifest.digest}`]);
    expect(cold.filter((r) => r.startsWith('GET blobs/')).sort()).toEqual(busybox.blobs.map((b) => `GET blobs/${b.digest}`).sort());

    upstream.clearRequestLog();
    await pullThrough(mirror, 'team/busybox:1.36', busybox);
    expect(await upstreamRequests('team/busybox')).toEqual([]);

    expect(await mirror.tags.get(upstream.host, 'team/busybox', '1.36')).toMatchObject({ digest: busybox.manifest.digest });
    expect((await mirror.store.info(busybox.manifest.digest)).labels).toMatchObject({
      'strata.gc.root': expect.any(String),
      'strata.gc.ref.content.config': busybox.config.digest,
      'strata.gc.ref.content.l.0': busybox.layers[0]!.digest,
      [UPSTREAM_LABEL]: upstream.host,
      [UPSTREAM_REPOSITORY_LABEL]: 'team/busybox',
    });
    expect((await mirror.store.info(busybox.layers[0]!.digest)).labels).toEqual({ [UPSTREAM_LABEL]: upstream.host, [UPSTREAM_REPOSITORY_LABEL]: 'team/busybox' });
  });

  it('pulls a multi-platform index with --all through a host prefix (podman), cold and warm, byte for byte', async () => {
    const mirror = await startMirror();
    const index = await multiPlatformIndex();
    upstream.clearRequestLog();
    await pullThrough(mirror, 'upstream.test/multi:latest', index, true);
    expect((await upstreamRequests('multi')).filter((r) => r.includes('manifests/latest'))).toEqual(['HEAD manifests/latest']);
    expect(await mirror.tags.get('upstream.test', 'multi', 'latest')).toMatchObject({ digest: index.index.digest });

    upstream.clearRequestLog();
    await pullThrough(mirror, 'upstream.test/multi:latest', index, true);
    expect((await upstreamRequests('multi')).filter((r) => r.startsWith('GET blobs/'))).toEqual([]);
  });

  it('routes by ns= (containerd), and refuses an ns that is not an upstream', async () => {
    const mirror = await startMirror();
    const response = await fetch(`${mirror.url}/v2/team/multi/manifests/latest?ns=upstream.test`);
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-content-digest')).toBe(multi.manifest.digest);
    expect(Buffer.compare(Buffer.from(await response.arrayBuffer()), multi.manifest.bytes)).toBe(0);
    expect(await mirror.tags.get('upstream.test', 'team/multi', 'latest')).toMatchObject({ digest: multi.manifest.digest });
    expect(await mirror.tags.get(upstream.host, 'team/multi', 'latest')).toBeUndefined();
    // Fetching the manifest started storing its config; that ingest ends with it (the committed blob shows a moment
    // before its ingest directory is gone).
    await waitFor(
      async () => (await stored(mirror.store, multi.config.digest)) && (await mirror.store.listStatuses()).length === 0,
      () => `config ${multi.config.digest} to be stored and its ingest to end`,
    );

    const layerAsManifest = await fetch(`${mirror.url}/v2/team/multi/manifests/${multi.layers[0]!.digest}?ns=upstream.test`);
    expect(await errorOf(layerAsManifest)).toEqual({
      status: 503,
      code: 'UNAVAILABLE',
      message: `upstream upstream.test: manifest team/multi@${multi.layers[0]!.digest}: the registry answered 500 (UNKNOWN: "unknown error"); try again later`,
    });
    await expect(mirror.store.info(multi.layers[0]!.digest)).rejects.toMatchObject({ kind: 'NotFound' });
    expect(await mirror.store.listStatuses()).toEqual([]);

    const refused = await fetch(`${mirror.url}/v2/team/multi/manifests/latest?ns=elsewhere.example.com`);
    expect(await errorOf(refused)).toEqual({
      status: 404,
      code: 'NAME_UNKNOWN',
      message: `repository team/multi not known: ns=elsewhere.example.com is not an upstream of this mirror (configured: ${upstream.host}, upstream.test)`,
    });
  });

  it('stores the config of a manifest it fetched before the client asks for it, and fetches it from the upstream once', async () => {
    const mirror = await startMirror();
    upstream.clearRequestLog();
    const head = await fetch(`${mirror.url}/v2/team/busybox/manifests/1.36`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    await waitFor(() => stored(mirror.store, busybox.config.digest), () => `config ${busybox.config.digest} to be stored`);
    const config = await fetch(`${mirror.url}/v2/team/busybox/blobs/${busybox.config.digest}`);
    expect(Buffer.compare(Buffer.from(await config.arrayBuffer()), busybox.config.bytes)).toBe(0);
    expect((await upstreamRequests('team/busybox')).filter((r) => r.startsWith('GET blobs/'))).toEqual([`GET blobs/${busybox.config.digest}`]);
    expect((await mirror.store.info(busybox.config.digest)).labels).toEqual({ [UPSTREAM_LABEL]: upstream.host, [UPSTREAM_REPOSITORY_LABEL]: 'team/busybox' });
  });

  it.each([
    ['writing an ingest', false],
    ['spooling into the store\'s imports', true],
  ])('fetches a blob once for 16 concurrent cold requests, and serves ranges of it, %s', async (_how, imports) => {
    const mirror = await startMirror(60, imports);
    const big = await buildImage({
      layers: [{ items: [{ file: 'data.bin', content: randomBytes(3_000_000) }] }],
    });
    await pushImage(upstream.url, 'team/big', '1', big);
    const layer = big.layers[0]!;
    upstream.clearRequestLog();
    const bodies = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const response = await fetch(`${mirror.url}/v2/team/big/blobs/${layer.digest}`);
        expect(response.status).toBe(200);
        return Buffer.from(await response.arrayBuffer());
      }),
    );
    for (const body of bodies) expect(Buffer.compare(body, layer.bytes)).toBe(0);
    expect((await upstreamRequests('team/big')).filter((r) => r.startsWith('GET '))).toEqual([`GET blobs/${layer.digest}`]);
    await waitFor(async () => (await mirror.store.info(layer.digest)).size === layer.size, () => `blob ${layer.digest} to be committed`);

    const ranged = await fetch(`${mirror.url}/v2/team/big/blobs/${layer.digest}`, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.compare(Buffer.from(await ranged.arrayBuffer()), Buffer.from(layer.bytes).subarray(100, 200))).toBe(0);
  });

  it('keeps a digest pin while the tag moves upstream, and follows the tag after its TTL', async () => {
    const mirror = await startMirror(0);
    const first = await buildImage({ layers: [{ items: [{ file: 'v', content: 'one' }] }] });
    const second = await buildImage({ layers: [{ items: [{ file: 'v', content: 'two' }] }] });
    await pushImage(upstream.url, 'team/moving', 'v', first);
    const before = await fetch(`${mirror.url}/v2/team/moving/manifests/v`, { method: 'HEAD' });
    expect(before.headers.get('docker-content-digest')).toBe(first.manifest.digest);

    await pushImage(upstream.url, 'team/moving', 'v', second);
    const after = await fetch(`${mirror.url}/v2/team/moving/manifests/v`, { method: 'HEAD' });
    expect(after.headers.get('docker-content-digest')).toBe(second.manifest.digest);
    const pinned = await fetch(`${mirror.url}/v2/team/moving/manifests/${first.manifest.digest}`);
    expect(pinned.headers.get('docker-content-digest')).toBe(first.manifest.digest);
    expect(Buffer.compare(Buffer.from(await pinned.arrayBuffer()), first.manifest.bytes)).toBe(0);
    expect((await mirror.store.info(first.manifest.digest)).labels['strata.gc.root']).toBeUndefined();
    expect((await mirror.store.info(second.manifest.digest)).labels['strata.gc.root']).toEqual(expect.any(String));
  });

  it('serves cached tags and blobs while the upstream is down, fails clearly for uncached ones, and recovers', async () => {
    const mirror = await startMirror(0);
    const layer = busybox.layers[0]!;
    expect((await fetch(`${mirror.url}/v2/team/busybox/manifests/1.36`)).status).toBe(200);
    await (await fetch(`${mirror.url}/v2/team/busybox/blobs/${layer.digest}`)).arrayBuffer();

    await upstream.restart(async () => {
      const manifest = await fetch(`${mirror.url}/v2/team/busybox/manifests/1.36`);
      expect(manifest.status).toBe(200);
      expect(Buffer.compare(Buffer.from(await manifest.arrayBuffer()), busybox.manifest.bytes)).toBe(0);
      const blob = await fetch(`${mirror.url}/v2/team/busybox/blobs/${layer.digest}`);
      expect(Buffer.compare(Buffer.from(await blob.arrayBuffer()), layer.bytes)).toBe(0);

      const uncached = await fetch(`${mirror.url}/v2/team/multi/manifests/latest`);
      expect(await errorOf(uncached)).toEqual({
        status: 503,
        code: 'UNAVAILABLE',
        message: `manifest team/multi:latest is not cached and upstream ${upstream.host} cannot serve it now (upstream ${upstream.host}: HEAD manifest team/multi:latest failed: connect ECONNREFUSED ${upstream.host}); try again later`,
      });
      const uncachedBlob = await fetch(`${mirror.url}/v2/team/multi/blobs/${multi.config.digest}`);
      expect(uncachedBlob.status).toBe(503);
    });

    const recovered = await fetch(`${mirror.url}/v2/team/multi/manifests/latest`);
    expect(recovered.status).toBe(200);
    expect(recovered.headers.get('docker-content-digest')).toBe(multi.manifest.digest);
  });

  it('fails the client and caches nothing when the upstream serves a corrupted blob', async () => {
    const mirror = await startMirror();
    const victim = await buildImage({ layers: [{ items: [{ file: 'data.bin', content: Buffer.alloc(200_000, 7) }] }] });
    await pushImage(upstream.url, 'team/victim', 'latest', victim);
    const layer = victim.layers[0]!;
    const corrupt = Buffer.from(layer.bytes);
    corrupt[100] = corrupt[100]! ^ 0xff;
    await writeFile(blobPath(layer.digest), corrupt);

    await expect(fetch(`${mirror.url}/v2/team/victim/blobs/${layer.digest}`).then((r) => r.arrayBuffer())).rejects.toThrow();
    await expect(mirror.store.info(layer.digest)).rejects.toMatchObject({ kind: 'NotFound' });
    expect(await mirror.store.listStatuses()).toEqual([]);
  });

  it('refuses pushes to a proxied repository with UNSUPPORTED and accepts them under local/', async () => {
    const mirror = await startMirror();
    const upload = await fetch(`${mirror.url}/v2/team/busybox/blobs/uploads/`, { method: 'POST' });
    expect(await errorOf(upload)).toEqual({
      status: 405,
      code: 'UNSUPPORTED',
      message: `repository team/busybox is a read-only mirror of ${upstream.host}/team/busybox: uploading a blob is not supported; push to a local/ repository instead`,
    });
    const put = await fetch(`${mirror.url}/v2/team/busybox/manifests/1.36`, {
      method: 'PUT',
      headers: { 'content-type': busybox.manifest.mediaType },
      body: busybox.manifest.bytes,
    });
    expect(await errorOf(put)).toMatchObject({ status: 405, code: 'UNSUPPORTED' });
    const remove = await fetch(`${mirror.url}/v2/team/busybox/manifests/1.36`, { method: 'DELETE' });
    expect(await errorOf(remove)).toMatchObject({ status: 405, code: 'UNSUPPORTED' });

    const source = freshDir();
    await writeOciLayout(source, multi, { tag: 'v1' });
    await skopeo(`oci:${source}:v1`, `docker://${mirror.host}/local/team/pushed:v1`);
    upstream.clearRequestLog();
    await pullThrough(mirror, 'local/team/pushed:v1', multi);
    await upstream.settleRequestLog();
    expect(upstream.requestLog().filter((r) => r.path.startsWith('/v2/') && r.path !== '/v2/')).toEqual([]);
  });
});

describe('getManifest while storing', () => {
  it('answers a fetched manifest before it is stored when asked to, and only after it is otherwise', async () => {
    const logger = silentLogger();
    const root = tempDir('strata-registry-proxy-gated-');
    const content = await createFsContent({ root: root.path, logger });
    const upstreams = createRegistryClient({ upstreams: [{ host: upstream.host }], logger, fetchTimeoutMs: 5000 });
    const tags = createMemoryTagStore();
    cleanups.push(async () => {
      upstreams.close();
      await content.store.close();
      await tags.close();
      root.remove();
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const store = wrapWriters(content.store, (writer) => ({
      async commit(commitOptions) {
        await gate;
        return writer.commit(commitOptions);
      },
    }));
    const local = createLocalBackend({ store, tags, logger });
    const backend = createMirrorBackend({ store, tags, upstreams, local, defaultUpstream: upstream.host, spoolDir: scratch.path, logger });
    const repo = await backend.repository('team/multi');

    const early = await repo.getManifest({ tag: 'latest' }, { whileStoring: true });
    expect(early.digest).toBe(multi.manifest.digest);
    expect(Buffer.compare(Buffer.from(early.bytes), multi.manifest.bytes)).toBe(0);
    await expect(content.store.info(multi.manifest.digest)).rejects.toMatchObject({ kind: 'NotFound' });
    let waited = false;
    const late = repo.getManifest({ digest: multi.manifest.digest }).then((m) => {
      waited = true;
      return m;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(waited).toBe(false);
    release();
    await early.stored;
    expect((await content.store.info(multi.manifest.digest)).size).toBe(multi.manifest.bytes.length);
    expect((await late).stored).toBeUndefined();
    await upstream.settleRequestLog();
    expect(upstream.requestLog().filter((r) => r.method === 'GET' && r.path.includes('/manifests/'))).toHaveLength(1);
  });
});
