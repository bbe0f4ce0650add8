import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateLabels, type BlobReader, type IngestFollower, type Labels, type LeaseManager, type Store } from '@strata/content';
import { failedPrecondition, invalidArgument, isAlreadyExists, type Logger } from '@strata/kit';
import {
  applyLayer,
  DEFAULT_APPLY_LIMITS,
  decompress,
  diffLayer,
  type ApplyLimits,
  type DecompressCounters,
  type DiffLayerOptions,
} from '@strata/layer-diff';
import { Digester, layerCompression, MediaTypes, parseDigest, type Descriptor, type Digest } from '@strata/oci';
import type { LocalSnapshotter, SnapshotDirectories } from '@strata/snapshots';
import { KeyedLock } from './keyed-lock.js';
import { checkLayerDescriptor } from './layer-descriptor.js';
import { openPendingBlob, type PendingBlob } from './pending-blob.js';
import { unpackImage } from './unpack.js';

/** Where one layer of an unpack is (see UnpackStatus in diff.proto). */
export type UnpackStatus = 'EXISTS' | 'APPLYING' | 'COMMITTED';

/** One progress event of {@link Differ.unpack}. */
export interface UnpackProgress {
  /** Position of the layer in the manifest, 0 = bottom. */
  index: number;
  /** Digest of the layer blob as stored. */
  digest: Digest;
  diffId: Digest;
  /** The chain ID that names the layer's committed snapshot. */
  chainId: Digest;
  /**
   * `EXISTS`: already unpacked, nothing applied; `APPLYING`: being applied
   * into a new active snapshot; `COMMITTED`: applied and committed under
   * chainId by this unpack.
   */
  status: UnpackStatus;
}

/** Options of {@link Differ.diff}. */
export interface DiffOptions {
  /** Media type of the layer to write: gzip (OCI, the default, or Docker). */
  mediaType?: string;
  /**
   * Labels set on the new blob when it is committed (atomically with it),
   * e.g. `strata.gc.root` or `strata.gc.ref.content*` of the committer;
   * the differ adds none of its own, so an unreferenced diff is garbage.
   */
  labels?: Labels;
  /**
   * A lease of the content store that holds the new blob: its digest is
   * added to the lease before the blob is committed, so garbage collection
   * never sees it unreferenced (containerd's lease on a diff). NotFound
   * when the lease does not exist; FailedPrecondition when the differ has
   * no LeaseManager.
   */
  lease?: string;
  /** Where a runtime mounted things into the snapshot: the mount points it made are left out (see DiffLayerOptions.mountPoints). */
  mountPoints?: readonly string[];
}

/** What {@link Differ.diff} wrote. */
export interface DiffResult {
  /** The layer blob as stored in the content store. */
  layer: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId: Digest;
}

/** Options of {@link Differ.apply} and {@link Differ.unpack}. */
export interface CancelOptions {
  /** Aborts the work (Canceled); what was applied meanwhile is removed (unpack) or must be (apply). */
  signal?: AbortSignal;
}

/**
 * The layer operations of a host's snapshotter (diff.proto's Diff service):
 * implemented locally by {@link createDiffer} and over gRPC by
 * createGrpcDiffer, with the same errors.
 */
export interface Differ {
  /**
   * Applies the layer blob (read from the content store) into the active
   * snapshot key, and returns the applied tar's descriptor: media type
   * `application/vnd.oci.image.layer.v1.tar`, digest = diff_id, size =
   * uncompressed bytes. With diffId the uncompressed bytes must hash to it;
   * without, nothing is checked. InvalidArgument for a malformed descriptor,
   * an unsupported media type, a refused archive; NotFound for an unknown
   * key or a missing blob; FailedPrecondition when key is not active or the
   * diff_id differs; ResourceExhausted past the apply limits. On ANY error
   * the snapshot holds a partial layer: the caller must remove it, never
   * commit it.
   */
  apply(layer: Descriptor, key: string, diffId?: Digest, options?: CancelOptions): Promise<Descriptor>;

  /**
   * Writes the changes of snapshot key against its parent as a gzip layer
   * into the content store (ref `diff-<uuid>`, committed with the computed
   * digest and size and options.labels) and returns its descriptor and
   * diff_id. An active or committed snapshot gives its own changes, a view
   * an empty layer. A layer already stored with that digest is success (its
   * labels are set). NotFound for an unknown key; InvalidArgument for an
   * unsupported media type or labels over the store's limits.
   */
  diff(key: string, options?: DiffOptions): Promise<DiffResult>;

  /**
   * Applies every layer of the image manifest, bottom first, as committed
   * snapshots named by chain ID, yielding progress: `EXISTS` for a layer
   * already unpacked; otherwise `APPLYING` then `COMMITTED`. Each layer is
   * applied in an active snapshot `extract-<uuid>-<chainId>` (label
   * `strata.snapshot.extract`) and committed with the labels
   * `strata.snapshot.ref` (the chain ID), `strata.snapshot.layer.digest`
   * and `strata.snapshot.layer.diff-id` (see snapshot-labels.ts). Concurrent
   * unpacks in this process apply each chain ID once (the others wait, then
   * see `EXISTS`). The next layer's blob is read ahead while one is applied.
   * With a LeaseManager, a lease holds the manifest, config and layers
   * until the unpack ends.
   *
   * A blob not stored yet whose ingest the content store is writing (a
   * pull still downloading it, so an unpack may start as soon as the pull
   * resolved the image) is waited for: the manifest and config until
   * committed; a layer is read as it is written when the differ has an
   * IngestFollower (a layer-store on this host), and its snapshot is
   * committed only once the store committed the blob from exactly the
   * bytes applied — when it did not (a digest or size mismatch discards the
   * ingest), the snapshot is removed and the unpack fails
   * (FailedPrecondition).
   *
   * InvalidArgument for an index ("unpack needs an image manifest, got an
   * index"), a malformed manifest or config (digests are checked), or a
   * config whose diff_ids do not match the layers in number; NotFound for a
   * missing blob; FailedPrecondition when a layer's diff_id differs from the
   * config, or a snapshot named by a chain ID exists but is not committed;
   * Canceled when aborted. On an error the layer being applied is removed
   * and nothing is committed for it or the layers above; layers committed
   * before stay.
   */
  unpack(manifest: Descriptor, options?: CancelOptions): AsyncIterable<UnpackProgress>;
}

/** Media type of what Apply reports as applied: the uncompressed tar. */
export const APPLIED_MEDIA_TYPE = MediaTypes.ociLayer;

/** How {@link createDiffer} is set up. */
export interface DifferOptions {
  /** The snapshotter of this host whose directories layers are applied into and diffed from. */
  snapshotter: LocalSnapshotter;
  /** Where layer blobs, manifests and configs are read and new layers written: the layer-store client or any Store. */
  content: Store;
  logger: Logger;
  /** The content store's leases: when given, an unpack holds what it reads against garbage collection. */
  leases?: LeaseManager;
  /**
   * Bytes of the next layer an unpack reads into memory while it applies
   * one (per unpack in flight; at least one chunk); 0 turns the pipeline
   * off. 32 MiB by default.
   */
  prefetchBytes?: number;
  /** Lifetime of an unpack's lease, so a crash never holds blobs for good; 1 hour by default. */
  leaseTtlSeconds?: number;
  /** Caps of applyLayer beyond its defaults. */
  limits?: Partial<ApplyLimits>;
  /**
   * Reads the content store's ingests as they are written (createFsIngestFollower
   * of @strata/content-fs over the root of a layer-store on this host): an
   * unpack then applies a layer while it downloads. Without it, a layer
   * still being written is read once committed.
   */
  follower?: IngestFollower;
  /** How long an unpack waits for a blob being written to be committed (without a follower); 60 s by default. */
  pendingWaitMs?: number;
}

/** What unpack shares with the differ; internal to this library (not exported by its index). */
export interface DifferContext {
  snapshotter: LocalSnapshotter;
  content: Store;
  logger: Logger;
  leases: LeaseManager | undefined;
  locks: KeyedLock;
  prefetchBytes: number;
  leaseTtlSeconds: number;
  /** Opens a layer blob after checking its descriptor against the store. */
  openLayer(layer: Descriptor): Promise<BlobReader>;
  /** Opens a blob that may still be being written (see openPendingBlob); with a size (a layer's), followed as it is written when the differ can, and checked against it. */
  openPending(digest: Digest, size?: number, signal?: AbortSignal): Promise<PendingBlob>;
  /** Applies blob into the active snapshot key (already checked to be active). */
  applyBlob(layer: Descriptor, dirs: SnapshotDirectories, diffId: Digest, blob: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<Descriptor>;
}

const GZIP_LAYER_TYPES = new Set<string>([MediaTypes.ociLayerGzip, MediaTypes.dockerLayerGzip]);

/** The active snapshot's directories, or NotFound / FailedPrecondition. */
async function activeDirectories(snapshotter: LocalSnapshotter, key: string): Promise<SnapshotDirectories & { upper: string }> {
  const dirs = await snapshotter.directories(key);
  if (dirs.kind !== 'active' || dirs.upper === undefined) {
    throw failedPrecondition(`snapshot ${JSON.stringify(key)} is ${dirs.kind}: layers are applied only into an active snapshot; prepare one`, {
      fields: { key, kind: dirs.kind },
    });
  }
  return { ...dirs, upper: dirs.upper };
}

/**
 * The layer service over a local snapshotter and a content store: see
 * {@link Differ} for the contract of each operation. One differ per
 * snapshotter: the per-chain-ID locks of unpack live in it.
 */
export function createDiffer(options: DifferOptions): Differ {
  const { snapshotter, content } = options;
  const logger = options.logger.child({ component: 'diff' });
  const limits: ApplyLimits = { ...DEFAULT_APPLY_LIMITS, ...options.limits };

  const openLayer = async (layer: Descriptor): Promise<BlobReader> => {
    const reader = await content.read(layer.digest);
    if (reader.size !== layer.size) {
      for await (const _ of reader.chunks) break;
      throw invalidArgument(`layer ${layer.digest} is ${reader.size} bytes in the content store, but its descriptor says ${layer.size}`, {
        fields: { digest: layer.digest },
      });
    }
    return reader;
  };

  const openPending: DifferContext['openPending'] = async (digest, size, signal) => {
    const blob = await openPendingBlob(content, digest, {
      ...(options.follower === undefined ? {} : { follower: options.follower }),
      ...(size === undefined ? {} : { size }),
      ...(options.pendingWaitMs === undefined ? {} : { waitMs: options.pendingWaitMs }),
      ...(signal === undefined ? {} : { signal }),
    });
    if (size !== undefined && blob.size !== size) {
      await blob.close();
      for await (const _ of blob.chunks) break;
      throw invalidArgument(`layer ${digest} is ${blob.size} bytes in the content store, but its descriptor says ${size}`, { fields: { digest } });
    }
    return blob;
  };

  const applyBlob: DifferContext['applyBlob'] = async (layer, dirs, diffId, blob, signal) => {
    const target = dirs.upper as string;
    const applied = await applyLayer({
      blob,
      mediaType: layer.mediaType,
      digest: layer.digest,
      diffId,
      target,
      mode: dirs.layout,
      limits,
      ...(signal === undefined ? {} : { signal }),
    });
    logger.debug({ key: dirs.key, digest: layer.digest, diffId, entries: applied.entries }, 'applied a layer');
    return { mediaType: APPLIED_MEDIA_TYPE, digest: applied.diffId, size: applied.size };
  };

  /** The diff_id of a stored layer, by decompressing it once (for an apply without an expected diff_id). */
  const diffIdOf = async (layer: Descriptor): Promise<Digest> => {
    const reader = await openLayer(layer);
    const digester = new Digester();
    const counters: DecompressCounters = { compressed: 0, decompressed: 0 };
    const compression = layerCompression(layer.mediaType) ?? 'none';
    for await (const chunk of decompress(reader.chunks, compression, `layer ${layer.digest}`, limits, counters)) digester.update(chunk);
    return digester.digest();
  };

  const context: DifferContext = {
    snapshotter,
    content,
    logger,
    leases: options.leases,
    locks: new KeyedLock(),
    prefetchBytes: options.prefetchBytes ?? 32 * 1024 * 1024,
    leaseTtlSeconds: options.leaseTtlSeconds ?? 3600,
    openLayer,
    openPending,
    applyBlob,
  };

  return {
    async apply(descriptor, key, diffId, applyOptions = {}) {
      const layer = checkLayerDescriptor(descriptor);
      const expected = diffId === undefined ? undefined : parseDigest(diffId);
      const dirs = await activeDirectories(snapshotter, key);
      const checked = expected ?? (await diffIdOf(layer));
      const reader = await openLayer(layer);
      return applyBlob(layer, dirs, checked, reader.chunks, applyOptions.signal);
    },

    async diff(key, diffOptions = {}) {
      const mediaType = diffOptions.mediaType === undefined || diffOptions.mediaType === '' ? MediaTypes.ociLayerGzip : diffOptions.mediaType;
      if (!GZIP_LAYER_TYPES.has(mediaType)) {
        throw invalidArgument(`unsupported diff media type ${JSON.stringify(mediaType)}: diffs are written as ${[...GZIP_LAYER_TYPES].join(' or ')}`, {
          fields: { mediaType },
        });
      }
      const labels = diffOptions.labels === undefined ? {} : validateLabels(diffOptions.labels);
      const dirs = await snapshotter.directories(key);
      let emptyDir: string | undefined;
      try {
        let source: DiffLayerOptions;
        const mountPoints = diffOptions.mountPoints === undefined || diffOptions.mountPoints.length === 0 ? {} : { mountPoints: diffOptions.mountPoints };
        if (dirs.upper === undefined) {
          emptyDir = await mkdtemp(join(tmpdir(), 'strata-diff-view-'));
          source = { mode: 'overlay', upper: emptyDir };
        } else if (dirs.layout === 'overlay') {
          source = { mode: 'overlay', upper: dirs.upper, lowers: dirs.lowers, ...mountPoints };
        } else {
          source = { mode: 'native', upper: dirs.upper, ...(dirs.lowers[0] === undefined ? {} : { lower: dirs.lowers[0] }), ...mountPoints };
        }
        const hold = diffOptions.lease === undefined || diffOptions.lease === '' ? undefined : { lease: diffOptions.lease, leases: options.leases };
        return await writeDiff(content, source, mediaType, labels, hold, logger.child({ key }));
      } finally {
        if (emptyDir !== undefined) await rm(emptyDir, { recursive: true, force: true });
      }
    },

    unpack(manifest, unpackOptions = {}) {
      return unpackImage(context, manifest, unpackOptions.signal);
    },
  };
}

/** Streams a diff into a new ingest and commits it with the digest and size the diff computed. */
async function writeDiff(
  content: Store,
  source: DiffLayerOptions,
  mediaType: string,
  labels: Labels,
  hold: { lease: string; leases: LeaseManager | undefined } | undefined,
  logger: Logger,
): Promise<DiffResult> {
  if (hold !== undefined && hold.leases === undefined) {
    throw failedPrecondition(`cannot hold the diff with lease ${hold.lease}: this differ has no lease manager`);
  }
  const layerDiff = diffLayer(source);
  layerDiff.result.catch(() => undefined);
  const ref = `diff-${randomUUID()}`;
  let writer;
  try {
    writer = await content.writer({ ref });
  } catch (err) {
    layerDiff.stream.destroy();
    throw err;
  }
  let committed = false;
  try {
    for await (const chunk of layerDiff.stream) await writer.write(chunk as Uint8Array);
    const result = await layerDiff.result;
    if (hold !== undefined) await hold.leases?.addResource(hold.lease, result.digest);
    try {
      await writer.commit({ expected: result.digest, total: result.size, labels });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const keys = Object.keys(labels);
      if (keys.length > 0) await content.update(result.digest, labels, keys.map((k) => `labels.${k}`));
    }
    committed = true;
    logger.debug({ digest: result.digest, diffId: result.diffId, size: result.size }, 'wrote a diff');
    return { layer: { mediaType, digest: result.digest, size: result.size }, diffId: result.diffId };
  } finally {
    if (!committed) {
      layerDiff.stream.destroy();
      await writer.close().catch(() => undefined);
      await content.abort(ref).catch(() => undefined);
    }
  }
}
