import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '@strata/content';
import { createFsContent } from '@strata/content-fs';
import { createContentService, createGrpcStore, type GrpcStore } from '@strata/content-grpc';
import { createServer, type Server } from '@strata/grpc-kit';
import { buildImage, multiLayerImage, multiPlatformIndex, MULTI_LAYER_VIEW, type BuiltImage } from '@strata/image-fixtures';
import { silentLogger, type ErrorKind } from '@strata/kit';
import { tempDir, waitFor } from '@strata/kit/testing';
import { describeTree } from '@strata/layer-diff/testing';
import { chainIds, digestOf, MediaTypes, type Descriptor, type Digest } from '@strata/oci';
import type { LocalSnapshotter } from '@strata/snapshots';
import { collect, raised } from '@strata/snapshots/testing';
import { createLocalSnapshotter, mountAll, unmountAll } from '@strata/snapshots-local';
import { createDiffer, type UnpackProgress } from './differ.js';
import { createDiffService } from './diff-service.js';
import { createGrpcDiffer, type GrpcDiffer } from './grpc-differ.js';
import { storeImage, viewMismatches } from './testing/index.js';

/*
 * Everything over gRPC: the differ reads and writes blobs through the
 * layer-store's Content and Leases services, and the test drives it
 * through the Diff service's client, both on unix sockets.
 */
const logger = silentLogger();
let dir: { path: string; remove: () => void };
let backend: Store;
let contentServer: Server;
let content: GrpcStore;
let snapshotter: LocalSnapshotter;
let diffServer: Server;
let client: GrpcDiffer;
let image: BuiltImage;
let chains: Digest[];
const mounted: string[] = [];

const mount = async (key: string): Promise<string> => {
  const target = join(dir.path, `mnt-${mounted.length}`);
  await mkdir(target);
  mounted.push(target);
  await mountAll(await snapshotter.mounts(key), target);
  return target;
};

beforeAll(async () => {
  dir = tempDir('strata-diff-grpc-');
  const fs = await createFsContent({ root: join(dir.path, 'content'), logger });
  backend = fs.store;
  const contentSocket = join(dir.path, 'content.sock');
  contentServer = createServer({ logger, services: createContentService(fs.store, fs.leases, { logger }).registrations, unixSocket: contentSocket });
  await contentServer.start();
  content = createGrpcStore({ unixSocket: contentSocket }, { logger });

  snapshotter = await createLocalSnapshotter({ root: join(dir.path, 'snapshots'), logger, syncOnCommit: false });
  const differ = createDiffer({ snapshotter, content, leases: content.leases, logger });
  const diffSocket = join(dir.path, 'diff.sock');
  diffServer = createServer({ logger, services: createDiffService(differ, { logger }).registrations, unixSocket: diffSocket });
  await diffServer.start();
  client = createGrpcDiffer({ unixSocket: diffSocket }, { logger });

  image = await multiLayerImage();
  await storeImage(content, image);
  chains = chainIds(image.configDocument.rootfs.diff_ids);
});

afterAll(async () => {
  try {
    for (const target of mounted.splice(0)) await unmountAll(target, { detach: true });
    client?.close();
    await diffServer?.shutdown(1000);
    await snapshotter?.close();
    await content?.close();
    await contentServer?.shutdown(1000);
    await backend?.close();
  } finally {
    dir.remove();
  }
});

describe('the Diff service over gRPC', () => {
  it('unpacks an image read from the layer-store over gRPC, then finds it unpacked', async () => {
    const events = await collect(client.unpack(image.descriptor));
    expect(events).toEqual(
      image.layers.flatMap((layer, index) =>
        (['APPLYING', 'COMMITTED'] as const).map((status): UnpackProgress => ({ index, digest: layer.digest, diffId: layer.diffId, chainId: chains[index]!, status })),
      ),
    );
    expect((await collect(client.unpack(image.descriptor))).map((e) => e.status)).toEqual(['EXISTS', 'EXISTS', 'EXISTS']);
    expect(await content.leases.list()).toEqual([]);
    await snapshotter.view('grpc-view', chains[2]);
    expect(await viewMismatches(await mount('grpc-view'), MULTI_LAYER_VIEW)).toEqual([]);
  });

  it('diffs a container snapshot into the layer-store and applies the layer into a fresh snapshot', async () => {
    await snapshotter.prepare('grpc-ctr', chains[2]);
    const root = await mount('grpc-ctr');
    await writeFile(join(root, 'etc/added'), 'added over grpc\n');
    await rm(join(root, 'etc/config'));
    await unmountAll(root);
    const { layer, diffId } = await client.diff('grpc-ctr', { labels: { 'strata.test': 'grpc' } });
    expect((await content.info(layer.digest)).labels).toEqual({ 'strata.test': 'grpc' });
    await snapshotter.prepare('grpc-fresh', chains[2]);
    expect(await client.apply(layer, 'grpc-fresh', diffId)).toEqual({ mediaType: MediaTypes.ociLayer, digest: diffId, size: expect.any(Number) });
    const [a, b] = [await mount('grpc-ctr'), await mount('grpc-fresh')];
    const tree = await describeTree(a, false);
    expect(tree['etc/added']?.type).toBe('file');
    expect(tree['etc/config']).toBeUndefined();
    expect(await describeTree(b, false)).toEqual(tree);
  });

  it('holds a diff with the lease it names from before the blob is committed, and refuses an unknown lease', async () => {
    await snapshotter.prepare('grpc-leased', chains[2]);
    const root = await mount('grpc-leased');
    await writeFile(join(root, 'leased'), 'held by a lease\n');
    await unmountAll(root);
    const lease = await content.leases.create({ id: `diff-lease-${process.pid}`, ttlSeconds: 600 });
    try {
      const { layer } = await client.diff('grpc-leased', { lease: lease.id });
      expect((await content.info(layer.digest)).labels).toEqual({});
      expect(await content.leases.held()).toContain(layer.digest);
      expect(await raised(() => client.diff('grpc-leased', { lease: 'no-such-lease' }))).toEqual({ kind: 'NotFound', message: 'lease no-such-lease not found' });
      expect(await content.listStatuses()).toEqual([]);
    } finally {
      await content.leases.delete(lease.id);
    }
  });

  it('cancels an unpack when its signal aborts, and the service removes the layer it was applying', async () => {
    const other = await buildImage({
      layers: [0, 1, 2].map((i) => ({ items: Array.from({ length: 200 }, (_, n) => ({ file: `layer-${i}/file-${n}`, content: `${i}/${n}\n` })) })),
    });
    await storeImage(content, other);
    const abort = new AbortController();
    const seen: UnpackProgress[] = [];
    const failure = await raised(async () => {
      for await (const event of client.unpack(other.descriptor, { signal: abort.signal })) {
        seen.push(event);
        abort.abort();
      }
    });
    expect([failure, seen.map((e) => `${e.index}:${e.status}`)]).toEqual([{ kind: 'Canceled', message: 'unpack was aborted' }, ['0:APPLYING']]);
    await waitFor(
      async () => (await collect(snapshotter.list(['kind==active,labels."strata.snapshot.extract"']))).length === 0,
      () => 'the extract snapshot to be removed',
    );
    const otherChains = chainIds(other.configDocument.rootfs.diff_ids);
    expect(await raised(() => snapshotter.stat(otherChains[1]!))).toEqual({ kind: 'NotFound', message: `snapshot "${otherChains[1]}" not found` });
  });

  const layer0 = (): Descriptor => image.manifestDocument.layers[0]!;
  it.each<{ name: string; call: () => Promise<unknown>; kind: ErrorKind; message: () => string }>([
    {
      name: 'apply into a committed snapshot',
      call: () => client.apply(layer0(), chains[0]!),
      kind: 'FailedPrecondition',
      message: () => `snapshot "${chains[0]}" is committed: layers are applied only into an active snapshot; prepare one`,
    },
    {
      name: 'apply with a malformed diff_id',
      call: () => client.apply(layer0(), 'grpc-ctr', 'sha256:nope' as Digest),
      kind: 'InvalidArgument',
      message: () => 'invalid digest "sha256:nope": not hexadecimal',
    },
    {
      name: 'apply with a wrong diff_id',
      call: async () => {
        await snapshotter.prepare('grpc-wrong');
        return client.apply(layer0(), 'grpc-wrong', digestOf('wrong'));
      },
      kind: 'FailedPrecondition',
      message: () => `layer ${image.layers[0]!.digest} unpacked to diff_id ${image.layers[0]!.diffId}, expected ${digestOf('wrong')}`,
    },
    {
      name: 'unpack of an index',
      call: async () => collect(client.unpack((await multiPlatformIndex()).descriptor)),
      kind: 'InvalidArgument',
      message: () => 'unpack needs an image manifest, got an index',
    },
    { name: 'diff of an unknown snapshot', call: () => client.diff('nope'), kind: 'NotFound', message: () => 'snapshot "nope" not found' },
  ])('$name raises $kind with the local message', async ({ call, kind, message }) => {
    expect(await raised(call)).toEqual({ kind, message: message() });
  });
});
