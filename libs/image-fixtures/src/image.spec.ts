import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { MediaTypes, digestHex, digestOf, parseImageConfig, parseManifestDocument } from '@strata/oci';
import { gunzip } from '@strata/tar';
import { buildImage, buildIndex, allBlobs, type BuiltImage } from './image.js';
import { imagePath, layerTarItems } from './layer.js';
import { multiLayerImage, multiPlatformIndex, singleLayerImage } from './fixtures.js';
import { REF_NAME_ANNOTATION, writeOciLayout } from './oci-layout.js';
import { parseAccessLogLine } from './registry.js';

async function failure(action: () => unknown): Promise<{ kind: string; message: string }> {
  try {
    await action();
  } catch (err) {
    return { kind: errorKind(err), message: (err as Error).message };
  }
  throw new Error('expected a failure, but it succeeded');
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function checkConsistent(image: BuiltImage): Promise<void> {
  const manifest = parseManifestDocument(image.manifest.bytes, image.manifest.mediaType, { expectedDigest: image.manifest.digest });
  expect(manifest.kind).toBe('manifest');
  const config = parseImageConfig(image.config.bytes, { expectedDigest: image.config.digest });
  expect(config).toEqual(image.configDocument);
  for (const [i, layer] of image.layers.entries()) {
    expect(digestOf(layer.bytes)).toBe(layer.digest);
    expect(layer.bytes.length).toBe(layer.size);
    expect(digestOf(await gunzip(layer.bytes))).toBe(layer.diffId);
    expect(config.rootfs.diff_ids[i]).toBe(layer.diffId);
  }
  expect(config.history?.length).toBe(image.layers.length);
}

describe('buildImage', () => {
  it('builds manifest, config and layers that agree with each other and parse strictly', async () => {
    const image = await singleLayerImage();
    await checkConsistent(image);
    expect(image.manifestDocument.config).toEqual({ mediaType: MediaTypes.ociConfig, digest: image.config.digest, size: image.config.size });
    expect(image.manifestDocument.layers.map((l) => l.mediaType)).toEqual([MediaTypes.ociLayerGzip]);
    expect(image.configDocument).toMatchObject({
      created: '2024-01-01T00:00:00Z',
      author: 'strata image-fixtures',
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/app/run.sh'], WorkingDir: '/app', ExposedPorts: { '8080/tcp': {}, '53/udp': {} }, User: '1000:1000' },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'COPY app /app' }],
    });
    expect(image.descriptor).toEqual({
      mediaType: MediaTypes.ociManifest,
      digest: image.manifest.digest,
      size: image.manifest.size,
      platform: { architecture: 'amd64', os: 'linux' },
    });
    expect(image.blobs.map((b) => b.digest)).toEqual([image.layers[0]!.digest, image.config.digest]);
  });

  it('gives the same digests for the same spec, and others for another time', async () => {
    const a = await multiLayerImage();
    const b = await multiLayerImage();
    expect(b.manifest.digest).toBe(a.manifest.digest);
    expect(b.layers.map((l) => l.digest)).toEqual(a.layers.map((l) => l.digest));
    const later = await buildImage({ layers: [{ items: [{ file: 'x', content: 'x' }] }], created: '2025-06-01T12:00:00Z' });
    const earlier = await buildImage({ layers: [{ items: [{ file: 'x', content: 'x' }] }] });
    expect(later.layers[0]!.diffId).not.toBe(earlier.layers[0]!.diffId);
    await checkConsistent(a);
  });

  it('uses Docker media types and uncompressed layers when asked', async () => {
    const image = await buildImage({ layers: [{ items: [{ file: 'a', content: 'a' }], compression: 'none' }, { items: [{ file: 'b' }] }], format: 'docker' });
    expect(image.manifest.mediaType).toBe(MediaTypes.dockerManifest);
    expect(image.config.mediaType).toBe(MediaTypes.dockerConfig);
    expect(image.layers.map((l) => l.mediaType)).toEqual([MediaTypes.dockerLayer, MediaTypes.dockerLayerGzip]);
    expect(image.layers[0]!.digest).toBe(image.layers[0]!.diffId);
    expect(parseManifestDocument(image.manifest.bytes, MediaTypes.dockerManifest).mediaType).toBe(MediaTypes.dockerManifest);
  });

  it('uses a ready tar as it is', async () => {
    const tar = new Uint8Array(1024);
    const image = await buildImage({ layers: [{ tar, compression: 'none' }] });
    expect(image.layers[0]!.bytes).toBe(tar);
    expect(image.layers[0]!.diffId).toBe(digestOf(tar));
  });

  it('refuses a created time that is not a time', async () => {
    expect(await failure(() => buildImage({ layers: [], created: 'yesterday' }))).toEqual({
      kind: 'InvalidArgument',
      message: 'fixture created time "yesterday" is not an RFC 3339 time',
    });
  });
});

describe('layerTarItems', () => {
  it('adds missing parents, writes whiteouts beside their target and opaque markers inside their directory', () => {
    const items = layerTarItems(
      [
        { file: '/etc/app/conf', content: 'x', mode: 0o600, uid: 5 },
        { whiteout: 'etc/old' },
        { whiteout: 'top' },
        { opaque: 'var/cache' },
        { hardlink: 'etc/app/conf-link', target: '/etc/app/conf' },
        { symlink: 'bin', target: 'usr/bin' },
        { device: 'dev/null', kind: 'char', major: 1, minor: 3 },
        { fifo: 'run/pipe' },
        { dir: 'etc/app/empty', mode: 0o700 },
      ],
      42,
    );
    expect(items.map(({ entry }) => `${entry.type} ${entry.name}${entry.linkname === undefined ? '' : ` -> ${entry.linkname}`}`)).toEqual([
      'directory etc',
      'directory etc/app',
      'file etc/app/conf',
      'file etc/.wh.old',
      'file .wh.top',
      'directory var',
      'directory var/cache',
      'file var/cache/.wh..wh..opq',
      'hardlink etc/app/conf-link -> etc/app/conf',
      'symlink bin -> usr/bin',
      'directory dev',
      'char-device dev/null',
      'directory run',
      'fifo run/pipe',
      'directory etc/app/empty',
    ]);
    expect(items[2]!.entry).toMatchObject({ mode: 0o600, uid: 5, mtime: 42 });
    expect(items.every(({ entry }) => entry.mtime === 42)).toBe(true);
  });

  it.each(['', '/', 'a/../b', '..', 'a//b', 'a/./b'])('refuses the path %j', async (path) => {
    expect(await failure(() => imagePath(path))).toEqual({
      kind: 'InvalidArgument',
      message: `fixture path ${JSON.stringify(path)} must be a non-empty path without empty, "." or ".." segments`,
    });
  });
});

describe('buildIndex', () => {
  it('lists each image with its platform', async () => {
    const index = await multiPlatformIndex();
    const parsed = parseManifestDocument(index.index.bytes, MediaTypes.ociIndex, { expectedDigest: index.index.digest });
    expect(parsed.kind).toBe('index');
    expect(index.indexDocument.manifests.map((m) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ]);
    expect(allBlobs(index).length).toBe(2 * 3 + 1);
    const docker = await multiPlatformIndex({ format: 'docker' });
    expect(docker.index.mediaType).toBe(MediaTypes.dockerManifestList);
    expect(docker.images.every((i) => i.manifest.mediaType === MediaTypes.dockerManifest)).toBe(true);
  });

  it.each([
    ['no images', 0, 'an index needs at least one image'],
    ['two images of one platform', 2, 'two images of the index have platform linux/amd64'],
  ])('refuses %s', async (_case, count, message) => {
    const image = await buildImage({ layers: [] });
    expect(await failure(() => buildIndex(Array.from({ length: count }, () => image)))).toEqual({ kind: 'InvalidArgument', message });
  });
});

describe('writeOciLayout', () => {
  it('writes oci-layout, every blob and tagged index.json entries', async () => {
    const dir = tempDir('strata-layout-');
    cleanups.push(dir.remove);
    const image = await singleLayerImage();
    const index = await multiPlatformIndex();
    await writeOciLayout(dir.path, image, { tag: 'one' });
    await writeOciLayout(dir.path, index, { tag: 'multi' });
    await writeOciLayout(dir.path, image, { tag: 'multi' });
    expect(JSON.parse(readFileSync(join(dir.path, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    for (const content of [...allBlobs(image), ...allBlobs(index)]) {
      const path = join(dir.path, 'blobs/sha256', digestHex(content.digest));
      expect(existsSync(path)).toBe(true);
      expect(Buffer.compare(readFileSync(path), content.bytes)).toBe(0);
    }
    const written = JSON.parse(readFileSync(join(dir.path, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    expect(written.manifests.map((m) => [m.annotations[REF_NAME_ANNOTATION], m.digest])).toEqual([
      ['one', image.manifest.digest],
      ['multi', image.manifest.digest],
    ]);
  });

  it('refuses a malformed tag', async () => {
    expect(await failure(async () => writeOciLayout('/nonexistent', await singleLayerImage(), { tag: 'no spaces' }))).toEqual({
      kind: 'InvalidArgument',
      message: 'invalid tag "no spaces" for the OCI layout',
    });
  });
});

describe('parseAccessLogLine', () => {
  it('reads the combined log format of the registry', () => {
    expect(
      parseAccessLogLine('127.0.0.1 - - [28/Nov/2026:01:17:21 +0000] "GET /v2/x/blobs/sha256:ab?n=1 HTTP/1.1" 404 157 "" "skopeo/1.9.3"'),
    ).toEqual({ method: 'GET', path: '/v2/x/blobs/sha256:ab', query: 'n=1', status: 404, bytes: 157, userAgent: 'skopeo/1.9.3' });
    expect(parseAccessLogLine('{"level":"warn","msg":"not an access line"}')).toBeUndefined();
  });
});
