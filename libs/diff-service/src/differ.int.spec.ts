import { mkdir, open, readdir, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { putBlob, type IngestFollower, type LeaseManager, type Store, type Writer } from '@strata/content';
import { createFsContent, createFsIngestFollower } from '@strata/content-fs';
import { buildImage, multiLayerImage, multiPlatformIndex, MULTI_LAYER_VIEW, type BuiltImage } from '@strata/image-fixtures';
import { silentLogger, type ErrorKind } from '@strata/kit';
import { tempDir } from '@strata/kit/testing';
import { describeTree } from '@strata/layer-diff/testing';
import { chainIds, digestOf, MediaTypes, type Descriptor, type Digest } from '@strata/oci';
import type { LocalSnapshotter } from '@strata/snapshots';
import { collect, raised } from '@strata/snapshots/testing';
import { createLocalSnapshotter, mountAll, unmountAll } from '@strata/snapshots-local';
import { createDiffer, type Differ, type UnpackProgress } from './differ.js';
import { EXTRACT_LABEL, LAYER_DIFF_ID_LABEL, LAYER_DIGEST_LABEL, SNAPSHOT_REF_LABEL } from './snapshot-labels.js';
import { removeUnpackLeftovers } from './unpack-leftovers.js';
import { storeImage, viewMismatches } from './testing/index.js';

const logger = silentLogger();

/** An image like `image` whose config lists diffIds instead of its own; returns the new manifest's descriptor. */
async function storeWithDiffIds(store: Store, image: BuiltImage, diffIds: string[]): Promise<Descriptor> {
  await storeImage(store, image);
  const configBytes = Buffer.from(JSON.stringify({ ...image.configDocument, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const config = { mediaType: image.config.mediaType, digest: digestOf(configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify({ ...image.manifestDocument, config }));
  const manifest = { mediaType: image.manifest.mediaType, digest: digestOf(manifestBytes), size: manifestBytes.length };
  await putBlob(store, config.digest, configBytes, {});
  await putBlob(store, manifest.digest, manifestBytes, {});
  return manifest;
}

const statuses = (events: UnpackProgress[]) => events.map((e) => `${e.index}:${e.status}`);

describe.each(['overlay', 'native'] as const)('differ with the %s driver', (driver) => {
  let dir: { path: string; remove: () => void };
  let snapshotter: LocalSnapshotter;
  let store: Store;
  let leases: LeaseManager;
  let differ: Differ;
  let image: BuiltImage;
  const mounted: string[] = [];

  /** Mounts the snapshot key (active or view) on a new directory, unmounted after the test. */
  const mount = async (key: string): Promise<string> => {
    const target = join(dir.path, `mnt-${mounted.length}`);
    await mkdir(target);
    mounted.push(target);
    await mountAll(await snapshotter.mounts(key), target);
    return target;
  };

  const snapshots = async () => (await collect(snapshotter.list())).map((i) => `${i.kind}:${i.name}`).sort();

  beforeAll(async () => {
    image = await multiLayerImage();
  });

  beforeEach(async () => {
    dir = tempDir('strata-diff-');
    snapshotter = await createLocalSnapshotter({ root: join(dir.path, 'snapshots'), driver, logger, syncOnCommit: false });
    ({ store, leases } = await createFsContent({ root: join(dir.path, 'content'), logger }));
    differ = createDiffer({ snapshotter, content: store, leases, logger });
    await storeImage(store, image);
  });

  afterEach(async () => {
    try {
      for (const target of mounted.splice(0)) await unmountAll(target, { detach: true });
      await snapshotter.close();
      await store.close();
    } finally {
      dir.remove();
    }
  });

  it('unpacks a multi-layer image into labelled snapshots by chain ID whose mounted top shows the merged view', async () => {
    const chains = chainIds(image.configDocument.rootfs.diff_ids);
    const events: UnpackProgress[] = [];
    let heldDuringUnpack: Set<string> | undefined;
    for await (const event of differ.unpack(image.descriptor)) {
      events.push(event);
      heldDuringUnpack ??= await leases.held();
    }
    expect(events).toEqual(
      image.layers.flatMap((layer, index) =>
        (['APPLYING', 'COMMITTED'] as const).map((status) => ({ index, digest: layer.digest, diffId: layer.diffId, chainId: chains[index], status })),
      ),
    );
    expect([...(heldDuringUnpack ?? [])].sort()).toEqual([image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)].sort());
    expect(await leases.list()).toEqual([]);
    expect(await snapshots()).toEqual(chains.map((c) => `committed:${c}`).sort());
    const top = await snapshotter.stat(chains[2]!);
    expect([top.parent, top.labels]).toEqual([
      chains[1],
      { [SNAPSHOT_REF_LABEL]: chains[2], [LAYER_DIGEST_LABEL]: image.layers[2]!.digest, [LAYER_DIFF_ID_LABEL]: image.layers[2]!.diffId },
    ]);
    expect((await collect(snapshotter.list([`labels."${SNAPSHOT_REF_LABEL}"==${chains[1]}`]))).map((i) => i.name)).toEqual([chains[1]]);

    await snapshotter.view('view', chains[2]);
    expect(await viewMismatches(await mount('view'), MULTI_LAYER_VIEW)).toEqual([]);
  });

  it('finds every layer EXISTS on a second unpack', async () => {
    await collect(differ.unpack(image.descriptor));
    expect(statuses(await collect(differ.unpack(image.descriptor)))).toEqual(['0:EXISTS', '1:EXISTS', '2:EXISTS']);
  });

  it('applies each layer once when two unpacks of one image run at once', async () => {
    const [a, b] = await Promise.all([collect(differ.unpack(image.descriptor)), collect(differ.unpack(image.descriptor))]);
    const all = [...a!, ...b!];
    const committed = all.filter((e) => e.status === 'COMMITTED').map((e) => e.index);
    expect(committed.sort()).toEqual([0, 1, 2]);
    expect(all.filter((e) => e.status === 'EXISTS').map((e) => e.index).sort()).toEqual([0, 1, 2]);
    expect(all.filter((e) => e.status === 'APPLYING')).toHaveLength(3);
    expect(await snapshots()).toHaveLength(3);
  });

  it('applies only the new layers of an image that shares base layers with an unpacked one', async () => {
    await collect(differ.unpack(image.descriptor));
    const derived = await buildImage({
      layers: [{ tar: image.layers[0]!.tar }, { tar: image.layers[1]!.tar }, { items: [{ file: 'etc/derived', content: 'derived\n' }] }],
    });
    await storeImage(store, derived);
    expect(statuses(await collect(differ.unpack(derived.descriptor)))).toEqual(['0:EXISTS', '1:EXISTS', '2:APPLYING', '2:COMMITTED']);
    const top = chainIds(derived.configDocument.rootfs.diff_ids)[2]!;
    expect((await snapshotter.stat(top)).parent).toBe(chainIds(image.configDocument.rootfs.diff_ids)[1]);
    await snapshotter.view('derived', top);
    const root = await mount('derived');
    expect(await viewMismatches(root, { files: { 'etc/derived': 'derived\n', 'etc/config': 'base config\n' }, dirs: [], absent: ['etc/gone'] })).toEqual([]);
  });

  it('commits nothing for a layer whose diff_id differs from the config, nor above it, and leaves no active snapshot', async () => {
    const real = image.configDocument.rootfs.diff_ids;
    const bogus = digestOf('not the layer');
    const manifest = await storeWithDiffIds(store, image, [real[0]!, bogus, real[2]!]);
    const events: UnpackProgress[] = [];
    const failure = await raised(async () => {
      for await (const event of differ.unpack(manifest)) events.push(event);
    });
    expect(failure).toEqual({
      kind: 'FailedPrecondition',
      message: `layer ${image.layers[1]!.digest} unpacked to diff_id ${real[1]}, expected ${bogus}`,
    });
    expect(statuses(events)).toEqual(['0:APPLYING', '0:COMMITTED', '1:APPLYING']);
    await snapshotter.cleanup();
    expect(await snapshots()).toEqual([`committed:${real[0]}`]);
    expect(await leases.list()).toEqual([]);
  });

  it('removes the layer being applied when the consumer stops, and removeUnpackLeftovers removes a crashed one', async () => {
    for await (const event of differ.unpack(image.descriptor)) if (event.status === 'APPLYING' && event.index === 1) break;
    const chains = chainIds(image.configDocument.rootfs.diff_ids);
    expect(await snapshots()).toEqual([`committed:${chains[0]}`]);
    await snapshotter.prepare(`extract-crashed-${chains[1]}`, chains[0], { labels: { [EXTRACT_LABEL]: chains[1]! } });
    await snapshotter.prepare('container', chains[0]);
    expect(await removeUnpackLeftovers(snapshotter, logger)).toBe(1);
    expect(await snapshots()).toEqual(['active:container', `committed:${chains[0]}`]);
  });

  it('applies a layer without a diff_id and reports the uncompressed tar', async () => {
    const layer = image.layers[0]!;
    await snapshotter.prepare('a');
    expect(await differ.apply(image.manifestDocument.layers[0]!, 'a')).toEqual({ mediaType: MediaTypes.ociLayer, digest: layer.diffId, size: layer.tar.length });
    await snapshotter.prepare('b');
    expect(await differ.apply(image.manifestDocument.layers[0]!, 'b', layer.diffId)).toEqual({
      mediaType: MediaTypes.ociLayer,
      digest: layer.diffId,
      size: layer.tar.length,
    });
    expect(await describeTree((await snapshotter.directories('a')).upper!)).toEqual(await describeTree((await snapshotter.directories('b')).upper!));
  });

  const layerOf = (i: number): Descriptor => image.manifestDocument.layers[i]!;
  type ErrorCase = [
    name: string,
    action: (d: Differ, s: LocalSnapshotter) => Promise<unknown>,
    kind: ErrorKind,
    message: string | ((i: BuiltImage) => string),
  ];
  const errorCases: ErrorCase[] = [
    [
      'apply into a committed snapshot',
      async (d, s) => {
        await s.prepare('x');
        await s.commit('done', 'x');
        return d.apply(layerOf(0), 'done');
      },
      'FailedPrecondition',
      'snapshot "done" is committed: layers are applied only into an active snapshot; prepare one',
    ],
    [
      'apply into a view',
      async (d, s) => {
        await s.view('v');
        return d.apply(layerOf(0), 'v');
      },
      'FailedPrecondition',
      'snapshot "v" is view: layers are applied only into an active snapshot; prepare one',
    ],
    ['apply into an unknown snapshot', (d) => d.apply(layerOf(0), 'nope'), 'NotFound', 'snapshot "nope" not found'],
    [
      'apply of an unsupported media type',
      async (d, s) => {
        await s.prepare('a');
        return d.apply({ ...layerOf(0), mediaType: 'application/vnd.example.layer' }, 'a');
      },
      'InvalidArgument',
      'unsupported layer media type "application/vnd.example.layer": expected an OCI or Docker layer (tar, tar+gzip, tar+zstd)',
    ],
    [
      'apply of a missing blob',
      async (d, s) => {
        await s.prepare('a');
        return d.apply({ ...layerOf(0), digest: digestOf('missing') }, 'a', digestOf('x'));
      },
      'NotFound',
      `blob ${digestOf('missing')} not found`,
    ],
    [
      'apply with the wrong size',
      async (d, s) => {
        await s.prepare('a');
        return d.apply({ ...layerOf(0), size: 3 }, 'a');
      },
      'InvalidArgument',
      (i) => `layer ${i.layers[0]!.digest} is ${i.layers[0]!.size} bytes in the content store, but its descriptor says 3`,
    ],
    [
      'unpack of an index',
      async (d) => {
        const index = await multiPlatformIndex();
        return collect(d.unpack(index.descriptor));
      },
      'InvalidArgument',
      'unpack needs an image manifest, got an index',
    ],
    [
      'unpack of a missing manifest',
      (d) => collect(d.unpack({ mediaType: MediaTypes.ociManifest, digest: digestOf('no manifest'), size: 2 })),
      'NotFound',
      `blob ${digestOf('no manifest')} not found`,
    ],
    [
      'diff as an unsupported media type',
      async (d, s) => {
        await s.prepare('a');
        return d.diff('a', { mediaType: MediaTypes.ociLayerZstd });
      },
      'InvalidArgument',
      `unsupported diff media type "${MediaTypes.ociLayerZstd}": diffs are written as ${MediaTypes.ociLayerGzip} or ${MediaTypes.dockerLayerGzip}`,
    ],
    ['diff of an unknown snapshot', (d) => d.diff('nope'), 'NotFound', 'snapshot "nope" not found'],
  ];
  it.each(errorCases.map(([name, action, kind, message]) => ({ name, action, kind, message })))('$name raises $kind', async ({ action, kind, message }) => {
    expect(await raised(() => action(differ, snapshotter))).toEqual({ kind, message: typeof message === 'string' ? message : message(image) });
  });

  it('diffs the changes made through a mount into a layer that recreates the same view on the same parent', async () => {
    await collect(differ.unpack(image.descriptor));
    const top = chainIds(image.configDocument.rootfs.diff_ids)[2]!;
    await snapshotter.prepare('ctr', top);
    const root = await mount('ctr');
    await writeFile(join(root, 'new-file'), 'new\n');
    await writeFile(join(root, 'etc/config'), 'changed config\n');
    await rm(join(root, 'data/keep'));
    await rm(join(root, 'opaque'), { recursive: true });
    await mkdir(join(root, 'opaque'));
    await writeFile(join(root, 'opaque/fresh'), 'fresh\n');
    await mkdir(join(root, 'newdir/sub'), { recursive: true });
    await writeFile(join(root, 'newdir/sub/file'), 'deep\n');
    await symlink('etc/config', join(root, 'config-link'));
    await chmod(join(root, 'replaced'), 0o600);
    await unmountAll(root);

    const labels = { 'strata.test': 'diff' };
    const { layer, diffId } = await differ.diff('ctr', { labels });
    expect(layer.mediaType).toBe(MediaTypes.ociLayerGzip);
    const info = await store.info(layer.digest);
    expect([info.size, info.labels]).toEqual([layer.size, labels]);
    expect(await differ.diff('ctr', { labels: { 'strata.test': 'again' } })).toEqual({ layer, diffId });
    expect((await store.info(layer.digest)).labels).toEqual({ 'strata.test': 'again' });
    expect(await store.listStatuses()).toEqual([]);

    await snapshotter.prepare('fresh', top);
    expect(await differ.apply(layer, 'fresh', diffId)).toMatchObject({ digest: diffId });
    const original = await mount('ctr');
    const recreated = await mount('fresh');
    const tree = await describeTree(original, false);
    expect(tree['opaque/fresh']?.type).toBe('file');
    expect(tree['data/keep']).toBeUndefined();
    expect(tree['opaque/upper']).toBeUndefined();
    expect(await describeTree(recreated, false)).toEqual(tree);
  });

  it('diffs a view into an empty layer', async () => {
    await collect(differ.unpack(image.descriptor));
    await snapshotter.view('v', chainIds(image.configDocument.rootfs.diff_ids)[2]);
    const { layer, diffId } = await differ.diff('v');
    await snapshotter.prepare('empty');
    await differ.apply(layer, 'empty', diffId);
    expect(await readdir((await snapshotter.directories('empty')).upper!)).toEqual([]);
  });
});

describe('unpack of a chain ID taken by an active snapshot', () => {
  it('raises FailedPrecondition and leaves it alone', async () => {
    const dir = tempDir('strata-diff-');
    const snapshotter = await createLocalSnapshotter({ root: join(dir.path, 's'), driver: 'native', logger, syncOnCommit: false });
    const { store } = await createFsContent({ root: join(dir.path, 'c'), logger });
    try {
      const image = await multiLayerImage();
      await storeImage(store, image);
      const first = image.layers[0]!.diffId as Digest;
      await snapshotter.prepare(first);
      const differ = createDiffer({ snapshotter, content: store, logger, prefetchBytes: 0 });
      expect(await raised(() => collect(differ.unpack(image.descriptor)))).toEqual({
        kind: 'FailedPrecondition',
        message: `snapshot ${first} is active, but chain IDs name only committed layers; remove it and unpack again`,
      });
      expect((await collect(snapshotter.list())).map((i) => i.name)).toEqual([first]);
    } finally {
      await snapshotter.close();
      await store.close();
      dir.remove();
    }
  });
});

describe.each([
  ['followed as they are written', true],
  ['read once committed', false],
] as const)('unpack of an image a pull is still storing, layers %s', (_name, follows) => {
  let dir: { path: string; remove: () => void };
  let snapshotter: LocalSnapshotter;
  let store: Store;
  let leases: LeaseManager;
  let differ: Differ;
  let image: BuiltImage;
  const writers: Writer[] = [];
  const mounted: string[] = [];
  /** The refs the differ's follower was asked to follow. */
  const followedRefs: string[] = [];

  beforeAll(async () => {
    image = await multiLayerImage();
  });

  beforeEach(async () => {
    dir = tempDir('strata-diff-pending-');
    snapshotter = await createLocalSnapshotter({ root: join(dir.path, 'snapshots'), driver: 'overlay', logger, syncOnCommit: false });
    ({ store, leases } = await createFsContent({ root: join(dir.path, 'content'), logger }));
    differ = createDiffer({
      snapshotter,
      content: store,
      leases,
      logger,
      ...(follows ? { follower: recordingFollower(createFsIngestFollower({ root: join(dir.path, 'content') })) } : {}),
    });
  });
  const recordingFollower = (follower: IngestFollower): IngestFollower => ({
    follow: (ref, ...rest) => {
      followedRefs.push(ref);
      return follower.follow(ref, ...rest);
    },
  });

  afterEach(async () => {
    followedRefs.splice(0);
    try {
      for (const target of mounted.splice(0)) await unmountAll(target, { detach: true });
      for (const w of writers.splice(0)) await w.close().catch(() => undefined);
      await snapshotter.close();
      await store.close();
    } finally {
      dir.remove();
    }
  });

  /** Opens the ingest of every layer as a pull does (ref, expected digest and size) and writes the first half of each. */
  const startLayers = async (bytesOf: (i: number) => Uint8Array): Promise<Writer[]> => {
    const opened: Writer[] = [];
    for (const [i, layer] of image.layers.entries()) {
      const writer = await store.writer({ ref: `proxy-${layer.digest.slice(7)}`, expected: layer.digest, total: layer.size });
      writers.push(writer);
      opened.push(writer);
      await writer.write(bytesOf(i).subarray(0, layer.size >> 1));
    }
    return opened;
  };

  const committedNames = async () => (await collect(snapshotter.list())).filter((i) => i.kind === 'committed').map((i) => i.name);

  it('starts before the layers are stored, commits each layer only after its blob, and shows the merged view', async () => {
    const chains = chainIds(image.configDocument.rootfs.diff_ids);
    const layerWriters = await startLayers((i) => image.layers[i]!.bytes);
    // The manifest's store is still under way too: the unpack waits for it.
    const manifestWriter = await store.writer({ ref: 'proxy-manifest', expected: image.manifest.digest, total: image.manifest.size });
    writers.push(manifestWriter);
    const events: string[] = [];
    const unpacking = collect(differ.unpack(image.descriptor)).then((all) => {
      events.push('unpack done');
      return all;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual([]);
    await putBlob(store, image.config.digest, image.config.bytes, {});
    await manifestWriter.write(image.manifest.bytes);
    await manifestWriter.commit();
    for (const [i, writer] of layerWriters.entries()) {
      const layer = image.layers[i]!;
      await writer.write(layer.bytes.subarray(layer.size >> 1));
      await new Promise((resolve) => setTimeout(resolve, 30));
      // Every byte is written, the blob not committed: its layer is not committed either.
      expect(await committedNames()).not.toContain(chains[i]);
      events.push(`blob ${i}`);
      await writer.commit();
    }
    expect(statuses(await unpacking)).toEqual(['0:APPLYING', '0:COMMITTED', '1:APPLYING', '1:COMMITTED', '2:APPLYING', '2:COMMITTED']);
    expect(events).toEqual(['blob 0', 'blob 1', 'blob 2', 'unpack done']);
    const target = join(dir.path, 'mnt');
    await mkdir(target);
    mounted.push(target);
    await snapshotter.view('view', chains[2]);
    await mountAll(await snapshotter.mounts('view'), target);
    expect(await viewMismatches(target, MULTI_LAYER_VIEW)).toEqual([]);
    expect(await leases.list()).toEqual([]);
  });

  it('removes the layer and commits nothing when the bytes written are not the blob (the store discards the ingest)', async () => {
    const chains = chainIds(image.configDocument.rootfs.diff_ids);
    await putBlob(store, image.manifest.digest, image.manifest.bytes, {});
    await putBlob(store, image.config.digest, image.config.bytes, {});
    // Layer 1 arrives with another gzip MTIME: the same tar (it applies, its diff_id matches), another digest.
    const tampered = Buffer.from(image.layers[1]!.bytes);
    expect(image.layers[1]!.mediaType).toMatch(/gzip$/);
    tampered[4] = (tampered[4] as number) ^ 0xff;
    const layerWriters = await startLayers((i) => (i === 1 ? tampered : image.layers[i]!.bytes));
    const events: UnpackProgress[] = [];
    const failure = raised(async () => {
      for await (const event of differ.unpack(image.descriptor)) events.push(event);
    });
    await layerWriters[0]!.write(image.layers[0]!.bytes.subarray(image.layers[0]!.size >> 1));
    await layerWriters[0]!.commit();
    for (let i = 0; !statuses(events).includes('1:APPLYING'); i++) {
      if (i > 300) throw new Error(`the unpack did not reach layer 1: ${statuses(events).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Its read-ahead, opened while layer 0 was applied, has long found the ingest.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await layerWriters[1]!.write(tampered.subarray(tampered.length >> 1));
    await expect(layerWriters[1]!.commit()).rejects.toThrow(/expected sha256:/);
    const digest = image.layers[1]!.digest;
    // Followed, the bytes were applied (or the discard came first) and are refused; waited for, the blob never came.
    expect(await failure).toEqual(
      follows
        ? { kind: 'FailedPrecondition', message: expect.stringMatching(new RegExp(`^the ingest proxy-[a-f0-9]{64} of blob ${digest} was discarded or rewritten after \\d+ bytes: its bytes are not the blob's$`)) }
        : { kind: 'NotFound', message: `layer ${digest}: blob ${digest} not found` },
    );
    expect(statuses(events)).toEqual(['0:APPLYING', '0:COMMITTED', '1:APPLYING']);
    await snapshotter.cleanup();
    expect(await committedNames()).toEqual([chains[0]]);
    expect((await collect(snapshotter.list())).filter((i) => i.kind !== 'committed')).toEqual([]);
    expect(await leases.list()).toEqual([]);
  });

  it('unpacks layers that the store imports as the mirror spools them into its imports directory', async () => {
    const chains = chainIds(image.configDocument.rootfs.diff_ids);
    await putBlob(store, image.manifest.digest, image.manifest.bytes, {});
    await putBlob(store, image.config.digest, image.config.bytes, {});
    const spools = [];
    for (const [i, layer] of image.layers.entries()) {
      const name = `proxy-${i}.${process.pid}.abcd.tmp`;
      const fh = await open(join(dir.path, 'content', 'imports', name), 'wx', 0o600);
      const imported = store.importFile!(name, { expected: layer.digest, total: layer.size, growing: true });
      imported.catch(() => undefined);
      await fh.write(layer.bytes.subarray(0, layer.size >> 1));
      spools.push({ name, fh, imported });
    }
    const events: UnpackProgress[] = [];
    const unpacking = (async () => {
      for await (const event of differ.unpack(image.descriptor)) events.push(event);
      return events;
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Followed, the bottom layer is read from the half its import has so far (the import is listed as an ingest); otherwise the unpack waits for the blob.
    if (follows) expect(followedRefs).toContain(`imports/${spools[0]!.name}`);
    else expect(followedRefs).toEqual([]);
    for (const [i, { fh, imported }] of spools.entries()) {
      await fh.write(image.layers[i]!.bytes.subarray(image.layers[i]!.size >> 1));
      await fh.close();
      await imported;
    }
    expect(statuses(await unpacking)).toEqual(['0:APPLYING', '0:COMMITTED', '1:APPLYING', '1:COMMITTED', '2:APPLYING', '2:COMMITTED']);
    expect(await committedNames()).toEqual(expect.arrayContaining(chains));
    expect(await leases.list()).toEqual([]);
  });

  it('raises NotFound for a layer that is neither stored nor being written', async () => {
    await putBlob(store, image.manifest.digest, image.manifest.bytes, {});
    await putBlob(store, image.config.digest, image.config.bytes, {});
    expect(await raised(() => collect(differ.unpack(image.descriptor)))).toEqual({ kind: 'NotFound', message: `blob ${image.layers[0]!.digest} not found` });
    expect(await collect(snapshotter.list())).toEqual([]);
  });
});
