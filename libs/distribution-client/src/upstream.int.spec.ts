import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '@strata/content/testing';
import { silentLogger } from '@strata/kit';
import { freePort } from '@strata/kit/testing';
import { MediaTypes, digestHex, digestOf } from '@strata/oci';
import {
  buildImage,
  multiLayerImage,
  pushImage,
  singleLayerImage,
  startDistributionRegistry,
  type BuiltImage,
  type TestDistributionRegistry,
} from '@strata/image-fixtures';
import { createRegistryClient, type RegistryClient } from './registry-client.js';
import type { Upstream } from './upstream.js';
import { verifyingStream } from './verifying-stream.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

function blobPath(registry: TestDistributionRegistry, digest: string): string {
  const hex = digestHex(digest as never);
  return join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

describe('an upstream without auth (Debian docker-registry)', () => {
  let registry: TestDistributionRegistry;
  let client: RegistryClient;
  let upstream: Upstream;
  let image: BuiltImage;
  const tags = ['1.0', '1.1', '2.0', 'edge', 'latest'];

  beforeAll(async () => {
    registry = await startDistributionRegistry();
    image = await multiLayerImage();
    for (const tag of tags) await pushImage(registry.url, 'library/multi', tag, image);
    client = createRegistryClient({ upstreams: [{ host: registry.host }], logger: silentLogger(), fetchTimeoutMs: 5000 });
    upstream = client.upstream(registry.host);
  });
  afterAll(async () => {
    client?.close();
    await registry?.stop();
  });

  it('pings over plain http because the upstream is on a loopback address', async () => {
    expect(upstream.baseUrl.href).toBe(`${registry.url}/`);
    await upstream.ping();
  });

  it('resolves a tag with one HEAD and no manifest GET', async () => {
    await registry.settleRequestLog();
    registry.clearRequestLog();
    const head = await upstream.headManifest('library/multi', 'latest');
    expect(head).toEqual({ digest: image.manifest.digest, mediaType: MediaTypes.ociManifest, size: image.manifest.size });
    await registry.settleRequestLog();
    const manifestRequests = registry.requestLog().filter((r) => r.path.includes('/manifests/'));
    expect(manifestRequests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it('answers undefined for a HEAD of an unknown tag, and of a digest by digest', async () => {
    expect(await upstream.headManifest('library/multi', 'nope')).toBeUndefined();
    expect(await upstream.headManifest('library/multi', image.manifest.digest)).toMatchObject({ digest: image.manifest.digest });
  });

  it.each(['latest', 'digest'])('gets the manifest by %s, byte for byte', async (by) => {
    const reference = by === 'digest' ? image.manifest.digest : by;
    const manifest = await upstream.getManifest('library/multi', reference);
    expect(Buffer.compare(manifest.bytes, image.manifest.bytes)).toBe(0);
    expect({ digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size }).toEqual({
      digest: image.manifest.digest,
      mediaType: MediaTypes.ociManifest,
      size: image.manifest.size,
    });
  });

  it('gets every blob, whole and from an offset, and verifies it while streaming', async () => {
    for (const blob of image.blobs) {
      const whole = await upstream.getBlob('library/multi', blob.digest);
      expect(whole.size).toBe(blob.size);
      expect(Buffer.compare(await collect(verifyingStream(whole.body, blob.digest, blob.size)), blob.bytes)).toBe(0);
      const offset = Math.floor(blob.size / 3);
      const rest = await upstream.getBlob('library/multi', blob.digest, { offset });
      expect({ size: rest.size, offset: rest.offset }).toEqual({ size: blob.size, offset });
      expect(Buffer.compare(await collect(rest.body), blob.bytes.subarray(offset))).toBe(0);
    }
    expect(await upstream.headBlob('library/multi', image.config.digest)).toEqual({ size: image.config.size });
  });

  it.each([
    ['an unknown tag', () => upstream.getManifest('library/multi', 'nope'), 'NotFound',
      `upstream ${'HOST'}: manifest library/multi:nope not found (MANIFEST_UNKNOWN: "manifest unknown")`],
    ['an unknown repository', () => upstream.listTags('library/none'), 'NotFound',
      `upstream ${'HOST'}: tags of library/none not found (NAME_UNKNOWN: "repository name not known to registry")`],
    ['an unknown blob', () => upstream.getBlob('library/multi', digestOf('no such blob')), 'NotFound',
      `upstream ${'HOST'}: blob library/multi@${digestOf('no such blob')} not found (BLOB_UNKNOWN: "blob unknown to registry")`],
    ['an uppercase repository', () => upstream.getManifest('Library/multi', 'latest'), 'InvalidArgument',
      `upstream ${'HOST'}: invalid repository name "Library/multi"`],
    ['a malformed digest', () => upstream.getBlob('library/multi', 'sha256:../..'), 'InvalidArgument',
      'invalid digest "sha256:../..": expected algorithm:hex, e.g. sha256:<64 hex>'],
  ] as const)('maps %s to a clear error', async (_, action, kind, message) => {
    await expectError(action, kind, message.replace('HOST', registry.host));
  });

  // distribution 2.8 (Debian's) answers every tag and no Link whatever n is;
  // pagination with n, last and Link is tested against upstream-auth's server.
  it('lists every tag of the repository', async () => {
    const page = await upstream.listTags('library/multi', { n: 2 });
    expect({ name: page.name, tags: [...page.tags].sort(), next: page.next }).toEqual({ name: 'library/multi', tags, next: undefined });
    expect((await upstream.listAllTags('library/multi')).sort()).toEqual(tags);
  });

  it('pushes blobs (uploaded and mounted) and a manifest that read back the same', async () => {
    const fresh = await singleLayerImage();
    for (const blob of fresh.blobs) {
      expect(await upstream.pushBlob('pushed/app', { digest: blob.digest, size: blob.size, body: blob.bytes })).toEqual({ mounted: false });
    }
    const pushed = await upstream.pushManifest('pushed/app', 'v1', fresh.manifest.bytes, fresh.manifest.mediaType);
    expect(pushed).toEqual({ digest: fresh.manifest.digest });
    expect((await upstream.headManifest('pushed/app', 'v1'))?.digest).toBe(fresh.manifest.digest);
    for (const blob of fresh.blobs) {
      const streamed = (async function* () {
        yield blob.bytes;
      })();
      expect(await upstream.pushBlob('pushed/mounted', { digest: blob.digest, size: blob.size, body: streamed }, { mountFrom: 'pushed/app' })).toEqual({
        mounted: true,
      });
    }
    await upstream.pushManifest('pushed/mounted', fresh.manifest.digest, fresh.manifest.bytes, fresh.manifest.mediaType);
    expect(Buffer.compare((await upstream.getManifest('pushed/mounted', fresh.manifest.digest)).bytes, fresh.manifest.bytes)).toBe(0);
  });

  it('catches a corrupted and a truncated blob while streaming it', async () => {
    const victim = await buildImage({ layers: [{ items: [{ file: 'data.bin', content: Buffer.alloc(200_000, 7) }] }] });
    await pushImage(registry.url, 'victim', 'latest', victim);
    const [layer] = victim.layers;
    const corrupt = Buffer.from(layer!.bytes);
    corrupt[100] = corrupt[100]! ^ 0xff;
    writeFileSync(blobPath(registry, layer!.digest), corrupt);
    const download = await upstream.getBlob('victim', layer!.digest);
    await expectError(
      collect(verifyingStream(download.body, layer!.digest, layer!.size)),
      'FailedPrecondition',
      `blob ${layer!.digest}: content has digest ${digestOf(corrupt)}, not the expected ${layer!.digest}; nothing of it may be kept`,
    );

    truncateSync(blobPath(registry, victim.config.digest), victim.config.size - 5);
    const short = await upstream.getBlob('victim', victim.config.digest);
    await expectError(
      collect(verifyingStream(short.body, victim.config.digest, victim.config.size)),
      'FailedPrecondition',
      `blob ${victim.config.digest}: body ended after ${victim.config.size - 5} of ${victim.config.size} bytes`,
    );
  });

  it('reports an upstream that does not answer as Unavailable', async () => {
    const port = await freePort();
    const down = createRegistryClient({ upstreams: [{ host: `127.0.0.1:${port}` }], logger: silentLogger() });
    try {
      await expectError(
        down.upstream(`127.0.0.1:${port}`).headManifest('library/multi', 'latest'),
        'Unavailable',
        `upstream 127.0.0.1:${port}: HEAD manifest library/multi:latest failed: connect ECONNREFUSED 127.0.0.1:${port}`,
      );
    } finally {
      down.close();
    }
  });

  it('refuses a host that is not configured', async () => {
    await expectError(
      () => client.upstream('ghcr.io'),
      'FailedPrecondition',
      `upstream registry "ghcr.io" is not configured; configured: ${registry.host}`,
    );
  });
});

describe('an upstream with htpasswd basic auth', () => {
  let registry: TestDistributionRegistry;
  let image: BuiltImage;
  const clients: RegistryClient[] = [];
  const upstreamWith = (credentials?: { username: string; password: string }): Upstream => {
    const client = createRegistryClient({
      upstreams: [{ host: registry.host, ...(credentials === undefined ? {} : { credentials }) }],
      logger: silentLogger(),
    });
    clients.push(client);
    return client.upstream(registry.host);
  };

  beforeAll(async () => {
    registry = await startDistributionRegistry({ auth: 'htpasswd' });
    image = await singleLayerImage();
    await pushImage(registry.url, 'private/app', 'v1', image, { credentials: registry.credentials! });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await registry?.stop();
  });

  it('answers the Basic challenge with the configured credentials, then sends them up front', async () => {
    const upstream = upstreamWith(registry.credentials);
    const manifest = await upstream.getManifest('private/app', 'v1');
    expect(manifest.digest).toBe(image.manifest.digest);
    await registry.settleRequestLog();
    registry.clearRequestLog();
    const layer = image.layers[0]!;
    const download = await upstream.getBlob('private/app', layer.digest);
    expect(Buffer.compare(await collect(verifyingStream(download.body, layer.digest, layer.size)), layer.bytes)).toBe(0);
    await registry.settleRequestLog();
    expect(registry.requestLog().map((r) => [r.method, r.status])).toEqual([['GET', 200]]);
  });

  it.each([
    ['without credentials', undefined],
    ['with a wrong password', { username: 'strata', password: 'wrong' }],
  ])('fails as Unauthenticated %s', async (_, credentials) => {
    const upstream = upstreamWith(credentials);
    await expectError(
      upstream.getManifest('private/app', 'v1'),
      'Unauthenticated',
      `upstream ${registry.host}: manifest private/app:v1: authentication failed (UNAUTHORIZED: "authentication required"); check the credentials configured for this upstream`,
    );
  });
});
