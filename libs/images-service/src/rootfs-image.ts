import { randomUUID } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { invalidArgument, isAlreadyExists } from '@strata/kit';
import { putBlob, type Store } from '@strata/content';
import { Digester, MediaTypes, digestOf, parseManifestDocument, type Descriptor, type Digest, type ImageConfig, type Platform } from '@strata/oci';
import { BLOCK_SIZE, HEADER_FIELDS, headerChecksum } from '@strata/tar';
import { applyChanges } from '@strata/images';
import { labelManifest } from './image-content.js';
import { maybeGunzip } from './gzip-input.js';

/** The history entry's created_by of an imported root filesystem. */
export const ROOTFS_IMPORT_CREATED_BY = 'strata image import';

/** Settings of {@link storeRootfsImage}. */
export interface RootfsImageOptions {
  store: Store;
  /** Dockerfile instructions for the run config (see applyChanges). */
  changes?: readonly string[];
  /** The history entry's comment; none when empty. */
  message?: string;
  /** The config's platform (the mirror's host platform). */
  platform: Platform;
  /** The config's `created` and the history entry's; now by default. */
  created?: Date;
  /** Called with each digest before it is written, so a lease can hold it until it is tagged. */
  hold?: (digest: Digest) => Promise<void>;
  /** gzip level of the layer; 6 by default. */
  gzipLevel?: number;
}

/** The image {@link storeRootfsImage} stored. */
export interface RootfsImage {
  manifest: Descriptor;
  config: Descriptor;
  /** The gzipped layer. */
  layer: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId: Digest;
}

/** True when block is a tar header with a correct checksum, or all zeros (an empty archive's end marker). */
function isTarStart(block: Uint8Array): boolean {
  if (block.every((b) => b === 0)) return true;
  const [offset, length] = HEADER_FIELDS.checksum;
  const text = Buffer.from(block.subarray(offset, offset + length)).toString('latin1').replace(/[\0 ]+$/, '').trim();
  return /^[0-7]{1,7}$/.test(text) && parseInt(text, 8) === headerChecksum(block);
}

/**
 * Stores a single-layer image made from a tar of a root filesystem, as
 * `docker import` does: tar (plain, or gzip which is decompressed first) is
 * hashed as it streams (its digest is the diff_id), gzipped, and written to
 * the store while that is hashed too (the layer's digest); then an image
 * config (platform, the changes applied to an empty run config, rootfs with
 * the diff_id, one history entry {@link ROOTFS_IMPORT_CREATED_BY} with the
 * message as comment) and an OCI manifest, labelled like pushed ones.
 * Nothing is tagged. Raises InvalidArgument for a change applyChanges
 * refuses (before any byte is read), for data that does not start with a
 * tar header (nor an empty archive), and for corrupt gzip; what the store
 * raises otherwise.
 */
export async function storeRootfsImage(tar: AsyncIterable<Uint8Array>, options: RootfsImageOptions): Promise<RootfsImage> {
  const { store } = options;
  const hold = options.hold ?? (async () => undefined);
  const runConfig = applyChanges({}, options.changes ?? []);
  const created = (options.created ?? new Date()).toISOString();

  const diff = new Digester();
  let diffSize = 0;
  let head = Buffer.alloc(0);
  async function* tapped(): AsyncGenerator<Uint8Array> {
    for await (const chunk of maybeGunzip(tar, 'the root filesystem tar')) {
      if (head.length < BLOCK_SIZE) {
        head = Buffer.concat([head, chunk.subarray(0, BLOCK_SIZE - head.length)]);
        if (head.length === BLOCK_SIZE && !isTarStart(head)) {
          throw invalidArgument('the root filesystem data is not a tar archive (nor a gzipped one); give a tar of the root filesystem or a directory');
        }
      }
      diff.update(chunk);
      diffSize += chunk.length;
      yield chunk;
    }
    if (head.length < BLOCK_SIZE) throw invalidArgument(`the root filesystem data is not a tar archive: it has only ${diffSize} bytes`);
  }

  const ref = `import-rootfs-${randomUUID()}`;
  const writer = await store.writer({ ref });
  const compressed = new Digester();
  let layerDigest: Digest;
  let layerSize = 0;
  try {
    const gzip = pipeline(Readable.from(tapped()), createGzip({ level: options.gzipLevel ?? 6 }), () => undefined);
    for await (const chunk of gzip as AsyncIterable<Uint8Array>) {
      compressed.update(chunk);
      layerSize += chunk.length;
      await writer.write(chunk);
    }
    layerDigest = compressed.digest();
    await hold(layerDigest);
    await writer.commit({ expected: layerDigest, total: layerSize });
  } catch (err) {
    await writer.close().catch(() => undefined);
    await store.abort(ref).catch(() => undefined);
    if (!isAlreadyExists(err)) throw err;
    layerDigest = compressed.digest();
  }
  const diffId = diff.digest();
  const layer: Descriptor = { mediaType: MediaTypes.ociLayerGzip, digest: layerDigest, size: layerSize };

  const config: ImageConfig & { config?: object } = {
    created,
    architecture: options.platform.architecture,
    os: options.platform.os,
    ...(options.platform.variant === undefined ? {} : { variant: options.platform.variant }),
    ...(Object.keys(runConfig).length === 0 ? {} : { config: runConfig }),
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, created_by: ROOTFS_IMPORT_CREATED_BY, ...(options.message ? { comment: options.message } : {}) }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = { mediaType: MediaTypes.ociConfig, digest: digestOf(configBytes), size: configBytes.length };
  await hold(configDescriptor.digest);
  await putBlob(store, configDescriptor.digest, configBytes, {}, 'import');

  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDescriptor, layers: [layer] }));
  const manifest: Descriptor = { mediaType: MediaTypes.ociManifest, digest: digestOf(manifestBytes), size: manifestBytes.length };
  await hold(manifest.digest);
  await putBlob(store, manifest.digest, manifestBytes, {}, 'import');
  await labelManifest(store, manifest.digest, parseManifestDocument(manifestBytes, MediaTypes.ociManifest, { expectedDigest: manifest.digest }));
  return { manifest, config: configDescriptor, layer, diffId };
}
