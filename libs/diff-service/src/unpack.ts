import { randomUUID } from 'node:crypto';
import { canceled, failedPrecondition, invalidArgument, isAlreadyExists, isNotFound, type Logger } from '@strata/kit';
import {
  chainIds,
  isIndexMediaType,
  MAX_MANIFEST_BYTES,
  parseDigest,
  parseImageConfig,
  parseManifestDocument,
  type Descriptor,
  type Digest,
} from '@strata/oci';
import type { LocalSnapshotter } from '@strata/snapshots';
import { prefetchBlob, type PrefetchedBlob } from './blob-prefetch.js';
import type { DifferContext, UnpackProgress, UnpackStatus } from './differ.js';
import { checkLayerDescriptor } from './layer-descriptor.js';
import type { PendingBlob } from './pending-blob.js';
import { EXTRACT_LABEL, LAYER_DIFF_ID_LABEL, LAYER_DIGEST_LABEL, SNAPSHOT_REF_LABEL } from './snapshot-labels.js';

const NOT_A_MANIFEST = 'unpack needs an image manifest, got an index';

/** Reads a manifest or config into memory (once committed, when a pull is still storing it), refusing one over MAX_MANIFEST_BYTES before reading it. */
async function readDocument(ctx: DifferContext, digest: Digest, label: string, signal: AbortSignal | undefined): Promise<Buffer> {
  const reader = await ctx.openPending(digest, undefined, signal);
  if (reader.size > MAX_MANIFEST_BYTES) {
    for await (const _ of reader.chunks) break;
    throw invalidArgument(`${label} ${digest} is ${reader.size} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes`, { fields: { digest } });
  }
  const parts: Buffer[] = [];
  for await (const chunk of reader.chunks) parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  return Buffer.concat(parts);
}

/**
 * True when a committed snapshot is named chainId; false when none is.
 * FailedPrecondition when an active or view snapshot took the name.
 */
async function isUnpacked(snapshotter: LocalSnapshotter, chainId: Digest): Promise<boolean> {
  try {
    const info = await snapshotter.stat(chainId);
    if (info.kind === 'committed') return true;
    throw failedPrecondition(`snapshot ${chainId} is ${info.kind}, but chain IDs name only committed layers; remove it and unpack again`, {
      fields: { key: chainId, kind: info.kind },
    });
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

interface Layer {
  index: number;
  descriptor: Descriptor;
  diffId: Digest;
  chainId: Digest;
  parent: Digest | undefined;
}

/** The image's layers with their diff_ids and chain IDs, after the lease holds the manifest, config and layers. */
async function readImage(ctx: DifferContext, manifest: Descriptor, hold: (digest: Digest) => Promise<void>, signal: AbortSignal | undefined): Promise<Layer[]> {
  const digest = parseDigest(manifest.digest);
  if (isIndexMediaType(manifest.mediaType)) throw invalidArgument(NOT_A_MANIFEST, { fields: { digest } });
  await hold(digest);
  const document = parseManifestDocument(await readDocument(ctx, digest, 'manifest', signal), manifest.mediaType || undefined, {
    expectedDigest: digest,
  });
  if (document.kind === 'index') throw invalidArgument(NOT_A_MANIFEST, { fields: { digest } });
  const { config, layers } = document.document;
  await hold(config.digest);
  const configDocument = parseImageConfig(await readDocument(ctx, config.digest, 'image config', signal), { expectedDigest: config.digest });
  const diffIds = configDocument.rootfs.diff_ids;
  if (diffIds.length !== layers.length) {
    throw invalidArgument(`image ${digest} has ${layers.length} layers but its config lists ${diffIds.length} diff_ids`, { fields: { digest } });
  }
  const descriptors = layers.map(checkLayerDescriptor);
  for (const layer of descriptors) await hold(layer.digest);
  const chains = chainIds(diffIds);
  return descriptors.map((descriptor, index) => ({
    index,
    descriptor,
    diffId: diffIds[index] as Digest,
    chainId: chains[index] as Digest,
    parent: chains[index - 1],
  }));
}

/**
 * Unpacks an image manifest's layers bottom first (see Differ.unpack for
 * the contract): a generator, so the caller's pace is the stream's pace.
 */
export async function* unpackImage(ctx: DifferContext, manifest: Descriptor, signal?: AbortSignal): AsyncGenerator<UnpackProgress> {
  const logger = ctx.logger.child({ manifest: manifest.digest });
  let leaseId: string | undefined;
  let ahead: { layer: Layer; blob: PrefetchedBlob } | undefined;
  try {
    const hold = async (digest: Digest): Promise<void> => {
      if (ctx.leases === undefined) return;
      if (leaseId === undefined) {
        const lease = await ctx.leases.create({
          id: `unpack-${randomUUID()}`,
          ttlSeconds: ctx.leaseTtlSeconds,
          labels: { 'strata.unpack.manifest': manifest.digest },
        });
        leaseId = lease.id;
      }
      await ctx.leases.addResource(leaseId, digest);
    };
    const layers = await readImage(ctx, manifest, hold, signal);

    /** Starts reading layers[i] ahead unless it is unpacked already (or its state is unclear: the loop reports that) or the pipeline is off. */
    const readAhead = async (i: number): Promise<void> => {
      const layer = layers[i];
      if (layer === undefined || ctx.prefetchBytes <= 0) return;
      if (await isUnpacked(ctx.snapshotter, layer.chainId).catch(() => true)) return;
      const open = (stop: AbortSignal) => ctx.openPending(layer.descriptor.digest, layer.descriptor.size, signal === undefined ? stop : AbortSignal.any([stop, signal]));
      ahead = { layer, blob: prefetchBlob(open, ctx.prefetchBytes) };
    };

    for (const layer of layers) {
      if (signal?.aborted === true) throw canceled('unpack was aborted');
      const progress = (status: UnpackStatus): UnpackProgress => ({
        index: layer.index,
        digest: layer.descriptor.digest,
        diffId: layer.diffId,
        chainId: layer.chainId,
        status,
      });
      const prefetched = ahead?.layer === layer ? ahead.blob : undefined;
      ahead = undefined;
      let status: UnpackStatus;
      const release = await ctx.locks.acquire(layer.chainId, signal);
      try {
        if (await isUnpacked(ctx.snapshotter, layer.chainId)) {
          await prefetched?.cancel();
          status = 'EXISTS';
        } else {
          status = yield* applyLayerOf(ctx, layer, prefetched, readAhead, progress, logger, signal);
        }
      } finally {
        release();
      }
      yield progress(status);
    }
  } finally {
    await ahead?.blob.cancel();
    if (leaseId !== undefined) {
      await ctx.leases?.delete(leaseId).catch((err: unknown) => logger.warn({ err, lease: leaseId }, 'cannot delete the unpack lease; it expires'));
    }
  }
}

/**
 * Applies one layer into a new active snapshot and commits it as its chain
 * ID; yields APPLYING, returns COMMITTED, or EXISTS when another unpack
 * committed the chain ID first. The active snapshot is removed on every
 * path but a commit.
 */
async function* applyLayerOf(
  ctx: DifferContext,
  layer: Layer,
  prefetched: PrefetchedBlob | undefined,
  readAhead: (i: number) => Promise<void>,
  progress: (status: UnpackStatus) => UnpackProgress,
  logger: Logger,
  signal: AbortSignal | undefined,
): AsyncGenerator<UnpackProgress, UnpackStatus> {
  const { snapshotter } = ctx;
  const key = `extract-${randomUUID()}-${layer.chainId}`;
  try {
    await snapshotter.prepare(key, layer.parent, { labels: { [EXTRACT_LABEL]: layer.chainId } });
  } catch (err) {
    await prefetched?.cancel();
    throw err;
  }
  let committed = false;
  let opened: PendingBlob | undefined;
  try {
    yield progress('APPLYING');
    await readAhead(layer.index + 1);
    const blob = prefetched ?? (opened = await ctx.openPending(layer.descriptor.digest, layer.descriptor.size, signal));
    const dirs = await snapshotter.directories(key);
    await ctx.applyBlob(layer.descriptor, dirs, layer.diffId, blob.chunks, signal);
    // A layer read while its ingest was written is kept only once the store committed the blob from those very bytes.
    await blob.confirm(signal);
    try {
      await snapshotter.commit(layer.chainId, key, {
        labels: {
          [SNAPSHOT_REF_LABEL]: layer.chainId,
          [LAYER_DIGEST_LABEL]: layer.descriptor.digest,
          [LAYER_DIFF_ID_LABEL]: layer.diffId,
        },
      });
      committed = true;
      logger.debug({ chainId: layer.chainId, index: layer.index }, 'unpacked a layer');
      return 'COMMITTED';
    } catch (err) {
      if (isAlreadyExists(err) && (await isUnpacked(snapshotter, layer.chainId))) return 'EXISTS';
      throw err;
    }
  } finally {
    await prefetched?.cancel();
    await opened?.close();
    if (!committed) {
      await snapshotter.remove(key).catch((err: unknown) => logger.warn({ err, key }, 'cannot remove the snapshot of a failed unpack'));
    }
  }
}
