import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LayerStatus, type PullResponse } from '@strata/api/images/v1';
import { GC_ROOT_LABEL, collectGarbage, createLeaseManager, putBlob, type LeaseManager, type Store } from '@strata/content';
import { createMemoryMetadataStore, createMemoryStore, expectError } from '@strata/content/testing';
import { createMemoryTagStore } from '@strata/images/testing';
import type { TagStore } from '@strata/images';
import { buildImage, multiLayerImage, multiPlatformIndex, singleLayerImage, type BuiltArtifact, type BuiltImage, type BuiltIndex } from '@strata/image-fixtures';
import { failedPrecondition, silentLogger, unavailable } from '@strata/kit';
import { createLocalBackend, type RegistryBackend } from '@strata/registry-http';
import { createImageEvents } from './image-events.js';
import { createImages, type Images } from './images.js';
import { createRecordingEventSink, type RecordingEventSink } from './testing/index.js';

const MIRROR = '127.0.0.1:5050';
const host = { os: 'linux', architecture: 'amd64' };
const logger = silentLogger();

let single: BuiltImage;
let multi: BuiltImage;
let older: BuiltImage;
let index: BuiltIndex;
let store: Store;
let tags: TagStore;
let leases: LeaseManager;
let events: RecordingEventSink;
let images: Images;

/** Stores an artifact's blobs and pushes its manifests into local repository `local/<repository>` with tag. */
async function push(repository: string, tag: string, artifact: BuiltArtifact): Promise<void> {
  const backend = createLocalBackend({ store, tags, logger });
  const repo = await backend.repository(`local/${repository}`);
  const built = artifact.kind === 'index' ? artifact.images : [artifact];
  for (const image of built) {
    for (const blob of image.blobs) await putBlob(store, blob.digest, blob.bytes, {});
    if (artifact.kind === 'index') await repo.putManifest({ reference: { digest: image.manifest.digest }, bytes: image.manifest.bytes, contentType: image.manifest.mediaType });
  }
  const top = artifact.kind === 'index' ? artifact.index : artifact.manifest;
  await repo.putManifest({ reference: { tag }, bytes: top.bytes, contentType: top.mediaType });
}

const name = (repository: string, tag: string) => `${MIRROR}/local/${repository}:${tag}`;

async function collect(stream: AsyncIterable<PullResponse>): Promise<PullResponse[]> {
  const out: PullResponse[] = [];
  for await (const event of stream) out.push(event);
  return out;
}

beforeAll(async () => {
  single = await singleLayerImage();
  multi = await multiLayerImage();
  older = await buildImage({ layers: [{ items: [{ file: 'old', content: 'old\n' }] }], created: '2020-01-01T00:00:00Z', config: { Labels: { tier: 'old' } } });
  index = await multiPlatformIndex();
});

beforeEach(() => {
  store = createMemoryStore();
  tags = createMemoryTagStore();
  leases = createLeaseManager(createMemoryMetadataStore());
  events = createRecordingEventSink();
  images = createImages({
    store,
    tags,
    leases,
    backend: createLocalBackend({ store, tags, logger }),
    events,
    logger,
    localDomains: [MIRROR, 'localhost:5050'],
    hostPlatform: host,
  });
});

afterEach(async () => {
  await tags.close();
  await store.close();
});

describe('Pull of an image already stored', () => {
  it('resolves, reports every layer EXISTS then DONE, and is up to date', async () => {
    await push('multi', 'v1', multi);
    const events_ = await collect(images.pull({ ref: name('multi', 'v1') }));
    expect(events_[0]).toEqual({ event: { $case: 'resolving', value: { ref: name('multi', 'v1') } } });
    expect(events_[1]?.event?.$case).toBe('resolved');
    const resolved = events_[1]?.event?.$case === 'resolved' ? events_[1].event.value : undefined;
    expect(resolved?.manifest?.digest).toBe(multi.manifest.digest);
    expect(resolved?.config?.digest).toBe(multi.config.digest);
    expect(resolved?.layers.map((l) => l.digest)).toEqual(multi.layers.map((l) => l.digest));
    expect(resolved?.platform).toEqual({ os: 'linux', architecture: 'amd64', variant: '' });
    const layerEvents = events_.slice(2, -1).map((e) => (e.event?.$case === 'layer' ? [e.event.value.index, e.event.value.status] : undefined));
    expect(layerEvents).toEqual(
      multi.layers.flatMap((_, i) => [
        [i, LayerStatus.LAYER_STATUS_EXISTS],
        [i, LayerStatus.LAYER_STATUS_DONE],
      ]),
    );
    const done = events_.at(-1)?.event;
    expect(done?.$case).toBe('done');
    if (done?.$case !== 'done') return;
    expect(done.value.upToDate).toBe(true);
    expect(done.value.image).toMatchObject({ id: multi.config.digest, repoTags: [name('multi', 'v1')], repoDigests: [`${MIRROR}/local/multi@${multi.manifest.digest}`] });
    expect(events.of('image.pulled')).toEqual([
      {
        type: 'image.pulled',
        subject: name('multi', 'v1'),
        data: { ref: name('multi', 'v1'), digest: multi.manifest.digest, mediaType: multi.manifest.mediaType, imageId: multi.config.digest, platform: 'linux/amd64' },
      },
    ]);
    expect(events.of('image.tagged')).toEqual([]);
    expect(await leases.list()).toEqual([]);
  });

  it('picks the asked platform from an index', async () => {
    await push('multi-arch', 'v1', index);
    const out = await collect(images.pull({ ref: name('multi-arch', 'v1'), platform: { os: 'linux', architecture: 'arm64', variant: '' } }));
    const resolved = out[1]?.event?.$case === 'resolved' ? out[1].event.value : undefined;
    expect(resolved?.target?.digest).toBe(index.index.digest);
    expect(resolved?.manifest?.digest).toBe(index.images[1]!.manifest.digest);
    expect(resolved?.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  it.each([
    ['Busybox', undefined, 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    [`${MIRROR}/local/absent:v1`, undefined, 'NotFound', 'manifest unknown: local/absent:v1 is not tagged'],
    [`${MIRROR}/local/multi-arch:v1`, { os: 'windows', architecture: 'amd64', variant: '' }, 'NotFound', 'no matching manifest for windows/amd64 in the manifest list entries'],
    [`${MIRROR}/local/multi-arch:v1`, { os: 'linux', architecture: 'x y', variant: '' }, 'InvalidArgument', 'invalid platform "linux/x y": expected os[/arch[/variant]], e.g. linux/arm64'],
  ] as const)('refuses %s (platform %j): %s', async (ref, platform, kind, message) => {
    await push('multi-arch', 'v1', index);
    await expectError(collect(images.pull({ ref, ...(platform === undefined ? {} : { platform }) })), kind, message);
    expect(events.of('image.pulled')).toEqual([]);
    expect(await leases.list()).toEqual([]);
  });

  it('keeps a digest-pulled image from garbage collection until it is deleted', async () => {
    await push('multi', 'v1', multi);
    await tags.delete('local', 'local/multi', 'v1');
    await store.update(multi.manifest.digest, {}, [`labels.${GC_ROOT_LABEL}`]);
    const out = await collect(images.pull({ ref: `${MIRROR}/local/multi@${multi.manifest.digest}` }));
    const done = out.at(-1)?.event;
    expect(done?.$case === 'done' && done.value.upToDate).toBe(false);
    expect(done?.$case === 'done' && done.value.image?.repoDigests).toEqual([`${MIRROR}/local/multi@${multi.manifest.digest}`]);
    expect((await collectGarbage({ store, leases, logger })).deleted).toEqual([]);
    await images.delete({ ref: `${MIRROR}/local/multi@${multi.manifest.digest}`, force: false });
    const gc = await collectGarbage({ store, leases, logger });
    expect(gc.deleted.sort()).toEqual([multi.manifest.digest, ...multi.blobs.map((b) => b.digest)].sort());
  });
});

describe('Pull of layers a mirroring repository fetches', () => {
  /**
   * Images over a local backend whose repositories also fetch blobs as a
   * mirror's do: fetchBlob stores the blob (announcing size bytes, then
   * failing with failure when given) and reports half and then all of it;
   * getManifest answers with stored when asked to answer while storing.
   */
  function mirroring(size: (actual: number) => number, failure?: Error, stored?: Promise<void>) {
    const fetched: string[] = [];
    const opened: string[] = [];
    const local = createLocalBackend({ store, tags, logger });
    const backend: RegistryBackend = {
      async repository(repoName, options) {
        const repo = await local.repository(repoName, options);
        return {
          ...repo,
          async getManifest(reference, options) {
            const content = await repo.getManifest(reference);
            return options?.whileStoring === true && stored !== undefined ? { ...content, stored } : content;
          },
          openBlob: (digest, range) => {
            opened.push(digest);
            return repo.openBlob(digest, range);
          },
          async fetchBlob(digest) {
            fetched.push(digest);
            const layer = multi.layers.find((l) => l.digest === digest)!;
            return {
              size: size(layer.size),
              async wait(onProgress) {
                onProgress?.(Math.floor(layer.size / 2));
                if (failure !== undefined) throw failure;
                await putBlob(store, digest, layer.bytes, {});
                onProgress?.(layer.size);
                return true;
              },
            };
          },
        };
      },
    };
    const pulling = createImages({ store, tags, leases, backend, events, logger, localDomains: [MIRROR], hostPlatform: host, progressIntervalMs: 0 });
    return { pulling, fetched, opened };
  }

  /** Pushes multi as local/multi:v1 and takes its layers out of the store again. */
  async function pushWithoutLayers(): Promise<void> {
    await push('multi', 'v1', multi);
    for (const layer of multi.layers) await store.delete(layer.digest);
  }

  it('stores them through fetchBlob, reporting its progress, without reading them back', async () => {
    await pushWithoutLayers();
    const { pulling, fetched, opened } = mirroring((actual) => actual);
    const out = await collect(pulling.pull({ ref: name('multi', 'v1') }));
    expect(fetched.sort()).toEqual(multi.layers.map((l) => l.digest).sort());
    expect(opened).toEqual([multi.config.digest]);
    const statuses = (i: number) => out.flatMap((e) => (e.event?.$case === 'layer' && e.event.value.index === i ? [[e.event.value.status, e.event.value.offset]] : []));
    const size = multi.layers[0]!.size;
    expect(statuses(0)).toEqual([
      [LayerStatus.LAYER_STATUS_WAITING, 0],
      [LayerStatus.LAYER_STATUS_DOWNLOADING, 0],
      [LayerStatus.LAYER_STATUS_DOWNLOADING, Math.floor(size / 2)],
      [LayerStatus.LAYER_STATUS_VERIFYING, size],
      [LayerStatus.LAYER_STATUS_STORED, size],
      [LayerStatus.LAYER_STATUS_DONE, size],
    ]);
    const done = out.at(-1)?.event;
    expect(done?.$case === 'done' && done.value.upToDate).toBe(false);
    const layerBytes = multi.layers.reduce((sum, l) => sum + l.size, 0);
    expect(events.of('image.pulled')[0]?.data).toMatchObject({ downloaded: layerBytes });
    for (const layer of multi.layers) expect(await store.info(layer.digest)).toMatchObject({ size: layer.size });
    expect(await leases.list()).toEqual([]);
  });

  it('tags the image only once the manifest answered while storing is stored, and fails with the store\'s error', async () => {
    await pushWithoutLayers();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { pulling } = mirroring((actual) => actual, undefined, gate);
    let finished = false;
    const pulled = collect(pulling.pull({ ref: name('multi', 'v1') })).finally(() => (finished = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(finished).toBe(false);
    expect(events.of('image.pulled')).toEqual([]);
    release();
    expect((await pulled).at(-1)?.event?.$case).toBe('done');

    for (const layer of multi.layers) await store.delete(layer.digest);
    const refused = Promise.reject(unavailable('the layer-store is down'));
    refused.catch(() => undefined);
    const failing = mirroring((actual) => actual, undefined, refused);
    await expect(collect(failing.pulling.pull({ ref: name('multi', 'v1') }))).rejects.toMatchObject({ kind: 'Unavailable', message: 'the layer-store is down' });
    expect(events.of('image.pulled')).toHaveLength(1);
    expect(await leases.list()).toEqual([]);
  });

  it.each([
    ['a size other than the manifest says', (actual: number) => actual + 1, undefined, 'FailedPrecondition', 'bytes upstream, not the'],
    ['a failed fetch', (actual: number) => actual, failedPrecondition('content has digest sha256:0, not the expected one'), 'FailedPrecondition', 'content has digest sha256:0'],
  ])('fails on %s, leaving the tag as it was and no lease', async (_case, size, failure, kind, message) => {
    await pushWithoutLayers();
    const { pulling } = mirroring(size, failure);
    await expect(collect(pulling.pull({ ref: name('multi', 'v1') }))).rejects.toMatchObject({ kind, message: expect.stringContaining(message) });
    expect((await tags.get('local', 'local/multi', 'v1'))?.digest).toBe(multi.manifest.digest);
    expect(await leases.list()).toEqual([]);
    expect(events.of('image.pulled')).toEqual([]);
  });
});

describe('List', () => {
  beforeEach(async () => {
    await push('single', 'v1', single);
    await push('single', 'v2', single);
    await push('multi', 'latest', multi);
    await push('old', '1.0', older);
  });

  it('lists one row per image id, newest first, tags gathered', async () => {
    const { images: rows } = await images.list({ filters: [] });
    expect(rows.map((r) => r.repoTags)).toEqual([[name('multi', 'latest')], [name('single', 'v1'), name('single', 'v2')], [name('old', '1.0')]]);
    const row = rows[1]!;
    expect(row.id).toBe(single.config.digest);
    expect(row.repoDigests).toEqual([`${MIRROR}/local/single@${single.manifest.digest}`]);
    expect(row.size).toBe(single.manifest.size + single.config.size + single.layers[0]!.size);
    expect(row.created).toEqual(new Date('2024-01-01T00:00:00Z'));
    expect(row.labels).toEqual({ 'org.opencontainers.image.title': 'single-layer', maintainer: 'strata' });
    expect(row.platform).toEqual({ os: 'linux', architecture: 'amd64', variant: '' });
  });

  it.each([
    [['reference=*/local/single'], [[name('single', 'v1'), name('single', 'v2')]]],
    [['reference=*/local/single:v2'], [[name('single', 'v2')]]],
    [['reference=*/local/s*', 'label=maintainer=strata'], [[name('single', 'v1'), name('single', 'v2')]]],
    [['label=tier'], [[name('old', '1.0')]]],
    [['label=tier=new'], []],
    [[`before=${name('single', 'v1')}`], [[name('old', '1.0')]]],
    [[`since=${name('old', '1.0')}`], [[name('multi', 'latest')], [name('single', 'v1'), name('single', 'v2')]]],
  ])('filters %j', async (filters, expected) => {
    const { images: rows } = await images.list({ filters });
    expect(rows.map((r) => r.repoTags)).toEqual(expected);
  });

  it.each([
    [['colour=red'], 'InvalidArgument', "invalid filter 'colour'"],
    [['before=Nope'], 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    [['since=absent'], 'NotFound', 'No such image: absent:latest'],
  ] as const)('refuses %j', async (filters, kind, message) => {
    await expectError(images.list({ filters: [...filters] }), kind, message);
  });
});

describe('Inspect and History', () => {
  beforeEach(async () => {
    await push('single', 'v1', single);
    await push('multi-arch', 'v1', index);
  });

  it('describes an image as docker image inspect does', async () => {
    const { image } = await images.inspect({ ref: name('single', 'v1') });
    expect(image).toMatchObject({
      id: single.config.digest,
      repoTags: [name('single', 'v1')],
      repoDigests: [`${MIRROR}/local/single@${single.manifest.digest}`],
      created: new Date('2024-01-01T00:00:00Z'),
      size: single.manifest.size + single.config.size + single.layers[0]!.size,
      architecture: 'amd64',
      os: 'linux',
      author: 'strata image-fixtures',
      rootfs: { type: 'layers', layers: [single.layers[0]!.diffId] },
      target: { digest: single.manifest.digest, mediaType: single.manifest.mediaType, size: single.manifest.size },
      manifest: { digest: single.manifest.digest },
      configDescriptor: { digest: single.config.digest, size: single.config.size },
      layers: [{ digest: single.layers[0]!.digest, size: single.layers[0]!.size }],
    });
    expect(image?.config).toMatchObject({
      user: '1000:1000',
      exposedPorts: ['53/udp', '8080/tcp'],
      env: ['PATH=/usr/bin:/bin', 'APP_MODE=test'],
      entrypoint: ['/app/run.sh'],
      cmd: ['--serve'],
      workingDir: '/app',
      stopSignal: 'SIGINT',
      labels: { 'org.opencontainers.image.title': 'single-layer', maintainer: 'strata' },
    });
    expect(image?.history).toEqual([
      { created: new Date('2024-01-01T00:00:00Z'), createdBy: 'COPY app /app', author: '', comment: '', emptyLayer: false, diffId: single.layers[0]!.diffId, size: single.layers[0]!.size },
    ]);
  });

  it('leaves the names out when asked without them, and describes the image the same otherwise', async () => {
    const full = (await images.inspect({ ref: name('single', 'v1') })).image;
    const bare = (await images.inspect({ ref: name('single', 'v1'), withoutNames: true })).image;
    expect(bare).toEqual({ ...full, repoTags: [], repoDigests: [] });
    expect(full?.repoTags).toEqual([name('single', 'v1')]);
  });

  it.each([
    ['the full id', () => single.config.digest],
    ['the bare id', () => single.config.digest.slice(7)],
    ['a 12-character prefix', () => single.config.digest.slice(7, 19)],
    ['sha256: and a prefix', () => single.config.digest.slice(0, 20)],
    ['repo@digest', () => `${MIRROR}/local/single@${single.manifest.digest}`],
  ])('finds an image by %s', async (_, ref) => {
    expect((await images.inspect({ ref: ref() })).image?.id).toBe(single.config.digest);
  });

  it('picks the platform of an index: the host by default, or the one asked for', async () => {
    expect((await images.inspect({ ref: name('multi-arch', 'v1') })).image?.id).toBe(index.images[0]!.config.digest);
    const arm = await images.inspect({ ref: name('multi-arch', 'v1'), platform: { os: 'linux', architecture: 'arm64', variant: '' } });
    expect(arm.image).toMatchObject({ id: index.images[1]!.config.digest, architecture: 'arm64', variant: 'v8', target: { digest: index.index.digest } });
  });

  it.each([
    ['absent', undefined, 'NotFound', 'No such image: absent:latest'],
    ['sha256:0123456789ab', undefined, 'NotFound', 'No such image: sha256:0123456789ab'],
    ['Busybox', undefined, 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    [name('multi-arch', 'v1'), { os: 'linux', architecture: 's390x', variant: '' }, 'NotFound', 'no matching manifest for linux/s390x in the manifest list entries'],
  ] as const)('refuses %s', async (ref, platform, kind, message) => {
    await expectError(images.inspect({ ref, ...(platform === undefined ? {} : { platform }) }), kind, message);
    await expectError(images.history({ ref, ...(platform === undefined ? {} : { platform }) }), kind, message);
  });

  it('lists history newest first with the size of each layer step', async () => {
    await push('multi', 'v1', multi);
    const { history } = await images.history({ ref: name('multi', 'v1') });
    expect(history.map((h) => [h.createdBy, h.size, h.diffId])).toEqual(
      multi.layers.map((l, i) => [['ADD base /', 'RUN delete and replace', 'RUN recreate'][i], l.size, l.diffId]).reverse(),
    );
  });
});

describe('Tag and Delete', () => {
  beforeEach(async () => {
    await push('single', 'v1', single);
  });

  it('creates and moves tags, publishing image.tagged with the previous digest', async () => {
    expect(await images.tag({ source: name('single', 'v1'), target: 'app' })).toEqual({ target: 'docker.io/library/app:latest', digest: single.manifest.digest });
    await push('multi', 'v1', multi);
    await images.tag({ source: multi.config.digest.slice(7, 19), target: 'app' });
    expect((await tags.get('docker.io', 'library/app', 'latest'))?.digest).toBe(multi.manifest.digest);
    expect(events.of('image.tagged').map((e) => e.data)).toEqual([
      { ref: 'docker.io/library/app:latest', digest: single.manifest.digest, mediaType: single.manifest.mediaType },
      { ref: 'docker.io/library/app:latest', digest: multi.manifest.digest, mediaType: multi.manifest.mediaType, previousDigest: single.manifest.digest },
    ]);
    expect(await images.tag({ source: name('single', 'v1'), target: `localhost:5050/local/copy:v9` })).toEqual({ target: name('copy', 'v9'), digest: single.manifest.digest });
    expect((await tags.get('local', 'local/copy', 'v9'))?.digest).toBe(single.manifest.digest);
  });

  it.each([
    [name('single', 'v1'), `app@sha256:${'a'.repeat(64)}`, 'InvalidArgument', 'refusing to create a tag with a digest reference'],
    [name('single', 'v1'), 'App', 'InvalidArgument', 'invalid reference format: repository name must be lowercase'],
    ['absent', 'app', 'NotFound', 'No such image: absent:latest'],
  ] as const)('refuses %s → %s', async (source, target, kind, message) => {
    await expectError(images.tag({ source, target }), kind, message);
  });

  it('untags one of several tags, and deletes the image with its last tag', async () => {
    await images.tag({ source: name('single', 'v1'), target: name('single', 'v2') });
    expect(await images.delete({ ref: name('single', 'v1'), force: false })).toEqual({ untagged: [name('single', 'v1')], deleted: [] });
    expect((await store.info(single.manifest.digest)).labels[GC_ROOT_LABEL]).toBeDefined();
    expect(await images.delete({ ref: name('single', 'v2'), force: false })).toEqual({
      untagged: [name('single', 'v2')],
      deleted: [single.manifest.digest, single.config.digest],
    });
    expect((await store.info(single.manifest.digest)).labels[GC_ROOT_LABEL]).toBeUndefined();
    expect(events.of('image.deleted').map((e) => e.data)).toEqual([
      { ref: name('single', 'v1'), digest: single.manifest.digest },
      { ref: name('single', 'v2'), digest: single.manifest.digest, imageDeleted: true },
    ]);
    expect((await collectGarbage({ store, leases, logger })).deleted.sort()).toEqual([single.manifest.digest, ...single.blobs.map((b) => b.digest)].sort());
    await expectError(images.delete({ ref: name('single', 'v2'), force: false }), 'NotFound', `No such image: ${name('single', 'v2')}`);
  });

  it('refuses to delete by id an image referenced in several repositories, unless forced', async () => {
    await images.tag({ source: name('single', 'v1'), target: 'app:1' });
    await expectError(
      images.delete({ ref: single.config.digest, force: false }),
      'FailedPrecondition',
      `conflict: unable to delete ${single.config.digest.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
    );
    expect(await images.delete({ ref: single.config.digest.slice(7, 19), force: true })).toEqual({
      untagged: ['docker.io/library/app:1', name('single', 'v1')],
      deleted: [single.config.digest, single.manifest.digest].sort(),
    });
    expect((await images.list({ filters: [] })).images).toEqual([]);
  });

  it('deletes by id every tag of one repository', async () => {
    await images.tag({ source: name('single', 'v1'), target: name('single', 'v2') });
    expect((await images.delete({ ref: single.config.digest, force: false })).untagged).toEqual([name('single', 'v1'), name('single', 'v2')]);
    await expectError(images.inspect({ ref: single.config.digest }), 'NotFound', `No such image: ${single.config.digest}`);
  });
});

describe('image.tagged and image.deleted of pushes and HTTP deletes', () => {
  it('publishes through createImageEvents the same events for a manifest PUT and DELETE as for Tag and Delete', async () => {
    const pushed = createLocalBackend({ store, tags, logger, onReferenceChange: createImageEvents({ events, localDomains: [MIRROR, 'localhost:5050'] }).publish });
    const repo = await pushed.repository('local/app');
    const put = async (image: BuiltImage, tag: string) => {
      for (const blob of image.blobs) await putBlob(store, blob.digest, blob.bytes, {});
      await repo.putManifest({ reference: { tag }, bytes: image.manifest.bytes, contentType: image.manifest.mediaType });
    };
    await put(single, 'v1');
    await images.tag({ source: name('app', 'v1'), target: name('app', 'v2') });
    await put(multi, 'v1');
    await repo.deleteManifest({ tag: 'v2' });
    await images.delete({ ref: name('app', 'v1'), force: false });
    expect(events.events.filter((e) => e.type !== 'image.pulled')).toEqual([
      { type: 'image.tagged', subject: name('app', 'v1'), data: { ref: name('app', 'v1'), digest: single.manifest.digest, mediaType: single.manifest.mediaType } },
      { type: 'image.tagged', subject: name('app', 'v2'), data: { ref: name('app', 'v2'), digest: single.manifest.digest, mediaType: single.manifest.mediaType } },
      {
        type: 'image.tagged',
        subject: name('app', 'v1'),
        data: { ref: name('app', 'v1'), digest: multi.manifest.digest, mediaType: multi.manifest.mediaType, previousDigest: single.manifest.digest },
      },
      { type: 'image.deleted', subject: name('app', 'v2'), data: { ref: name('app', 'v2'), digest: single.manifest.digest, imageDeleted: true } },
      { type: 'image.deleted', subject: name('app', 'v1'), data: { ref: name('app', 'v1'), digest: multi.manifest.digest, imageDeleted: true } },
    ]);
  });
});

describe('Images pulled by digest only', () => {
  /** Stores an image's blobs and manifest in the local repositories without a tag (as an upstream would hold it). */
  async function storeUntagged(image: BuiltImage): Promise<void> {
    const repo = await createLocalBackend({ store, tags, logger }).repository('local/untagged');
    for (const blob of image.blobs) await putBlob(store, blob.digest, blob.bytes, {});
    await repo.putManifest({ reference: { digest: image.manifest.digest }, bytes: image.manifest.bytes, contentType: image.manifest.mediaType });
  }

  const pinned = (repository: string, image: BuiltImage) => `${MIRROR}/local/${repository}@${image.manifest.digest}`;

  async function pullPinned(repository: string, image: BuiltImage) {
    const done = (await collect(images.pull({ ref: pinned(repository, image) }))).at(-1)?.event;
    return done?.$case === 'done' ? done.value : undefined;
  }

  it('lists it with no tag and its repo digest, finds it by short id, and Delete by repo@digest removes it and un-roots it', async () => {
    await storeUntagged(multi);
    expect((await images.list({ filters: [] })).images).toEqual([]);
    expect(await pullPinned('pinned', multi)).toMatchObject({ upToDate: false, image: { id: multi.config.digest, repoTags: [], repoDigests: [pinned('pinned', multi)] } });
    expect((await pullPinned('pinned', multi))?.upToDate).toBe(true);

    const { images: rows } = await images.list({ filters: [] });
    expect(rows.map((r) => [r.id, r.repoTags, r.repoDigests])).toEqual([[multi.config.digest, [], [pinned('pinned', multi)]]]);
    expect((await images.list({ filters: ['reference=*/local/pinned'] })).images.map((r) => r.id)).toEqual([multi.config.digest]);
    expect((await images.list({ filters: [`reference=*/local/pinned@${multi.manifest.digest}`] })).images.map((r) => r.id)).toEqual([multi.config.digest]);
    expect((await images.list({ filters: ['reference=*/local/other'] })).images).toEqual([]);

    const shortId = multi.config.digest.slice(7, 19);
    expect((await images.inspect({ ref: shortId })).image).toMatchObject({ id: multi.config.digest, repoTags: [], repoDigests: [pinned('pinned', multi)] });
    expect((await images.history({ ref: shortId })).history).toHaveLength(multi.layers.length);

    expect(await images.tag({ source: shortId, target: 'app:1' })).toEqual({ target: 'docker.io/library/app:1', digest: multi.manifest.digest });
    expect(await images.delete({ ref: 'app:1', force: false })).toEqual({ untagged: ['docker.io/library/app:1'], deleted: [] });
    expect((await images.list({ filters: [] })).images.map((r) => [r.repoTags, r.repoDigests])).toEqual([[[], [pinned('pinned', multi)]]]);

    expect(await images.delete({ ref: pinned('pinned', multi), force: false })).toEqual({
      untagged: [pinned('pinned', multi)],
      deleted: [multi.config.digest, multi.manifest.digest].sort(),
    });
    expect(events.of('image.deleted').at(-1)).toEqual({
      type: 'image.deleted',
      subject: pinned('pinned', multi),
      data: { ref: pinned('pinned', multi), digest: multi.manifest.digest, imageDeleted: true },
    });
    expect((await images.list({ filters: [] })).images).toEqual([]);
    await expectError(images.inspect({ ref: shortId }), 'NotFound', `No such image: ${shortId}:latest`);
    expect((await store.info(multi.manifest.digest)).labels[GC_ROOT_LABEL]).toBeUndefined();
    expect((await collectGarbage({ store, leases, logger })).deleted.sort()).toEqual([multi.manifest.digest, ...multi.blobs.map((b) => b.digest)].sort());
  });

  it('deletes by id the digest references of every repository only when forced', async () => {
    await storeUntagged(single);
    await pullPinned('a', single);
    await pullPinned('b', single);
    expect((await images.list({ filters: [] })).images.map((r) => r.repoDigests)).toEqual([[pinned('a', single), pinned('b', single)]]);
    await expectError(
      images.delete({ ref: single.config.digest, force: false }),
      'FailedPrecondition',
      `conflict: unable to delete ${single.config.digest.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
    );
    expect(await images.delete({ ref: single.config.digest, force: true })).toEqual({
      untagged: [pinned('a', single), pinned('b', single)],
      deleted: [single.config.digest, single.manifest.digest].sort(),
    });
    expect((await images.list({ filters: [] })).images).toEqual([]);
    expect((await store.info(single.manifest.digest)).labels[GC_ROOT_LABEL]).toBeUndefined();
  });

  it('removes, as Docker, the digest references of a repository together with its last tag of the image', async () => {
    await push('single', 'v1', single);
    await pullPinned('single', single);
    expect((await images.list({ filters: [] })).images.map((r) => [r.repoTags, r.repoDigests])).toEqual([[[name('single', 'v1')], [pinned('single', single)]]]);
    expect(await images.delete({ ref: name('single', 'v1'), force: false })).toEqual({
      untagged: [name('single', 'v1'), pinned('single', single)],
      deleted: [single.manifest.digest, single.config.digest],
    });
    expect((await images.list({ filters: [] })).images).toEqual([]);
  });
});
