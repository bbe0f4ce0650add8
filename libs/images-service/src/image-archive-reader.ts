import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import {
  failedPrecondition,
  invalidArgument,
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
  resourceExhausted,
  type Logger,
} from '@strata/kit';
import { putBlob, readBlob, type Store } from '@strata/content';
import { readTar } from '@strata/layer-diff';
import {
  Digester,
  MAX_INDEX_DEPTH,
  MAX_MANIFEST_BYTES,
  MediaTypes,
  checkIndexDepth,
  digestHex,
  digestOf,
  layerCompression,
  parseImageConfig,
  parseManifestDocument,
  parseReference,
  selectPlatform,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageManifest,
  type ManifestDocument,
  type Platform,
  type Reference,
} from '@strata/oci';
import { IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION } from './image-archive-writer.js';
import { labelManifest } from './image-content.js';
import { GZIP_MAGIC, maybeGunzip } from './gzip-input.js';

/** Settings of {@link readImageArchive}. */
export interface ReadImageArchiveOptions {
  /** Where blobs go, each checked against its digest. */
  store: Store;
  /** Parent of the import's temporary directory, where files that are not blobs are spooled. */
  spoolDir: string;
  /** The platform whose image stands for an index in the answer's image id. */
  hostPlatform: Platform;
  /** Called before a blob is written or linked, so a lease can hold it until it is tagged. */
  hold?: (digest: Digest) => Promise<void>;
  logger: Logger;
  /** Entries (headers) the archive may have; 100 000 by default. */
  maxEntries?: number;
}

/** An image an archive held, stored and labelled, not yet tagged. */
export interface ArchivedImage {
  /** What its names are to point at: an index or a manifest. */
  target: Descriptor;
  /** The image id (config digest), of the host platform's image for an index (else its first). */
  id: Digest;
  /** The names the archive gives it (tags only), in order, without duplicates. */
  names: Reference[];
}

/** Files of an archive read into memory, each at most MAX_MANIFEST_BYTES. */
const DOCUMENTS = new Set(['index.json', 'manifest.json', 'oci-layout', 'repositories']);
const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;
const MAX_LINK_HOPS = 8;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

const shown = (name: string) => JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);

/** The entry's name relative to the archive root; InvalidArgument for an absolute name or one with `..`. */
function archivePath(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (name.startsWith('/') || parts.includes('..')) {
    throw invalidArgument(`archive entry ${shown(name)} points outside the archive; refusing the archive`);
  }
  return parts.join('/');
}

/** A file of the archive as it was kept: a blob in the store, or a spooled file with its digest. */
type Kept = { kind: 'blob'; digest: Digest; size: number } | { kind: 'spool'; file: string; digest: Digest; size: number };

/** What Docker's manifest.json says of one image. */
interface DockerEntry {
  config: string;
  repoTags: string[];
  layers: string[];
}

function parseDockerManifest(bytes: Buffer): DockerEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw invalidArgument(`archive manifest.json is not JSON (${(cause as Error).message})`, { cause });
  }
  if (!Array.isArray(parsed)) throw invalidArgument('archive manifest.json is not a JSON array of images');
  if (parsed.length > 1000) throw resourceExhausted(`archive manifest.json lists ${parsed.length} images, over the limit of 1000`);
  return parsed.map((raw: unknown, i) => {
    const where = `archive manifest.json entry ${i}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidArgument(`${where} is not an object`);
    const e = raw as Record<string, unknown>;
    const strings = (key: string, value: unknown): string[] => {
      if (value === undefined || value === null) return [];
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalidArgument(`${where}: ${key} must be a list of strings`);
      return value as string[];
    };
    if (typeof e.Config !== 'string' || e.Config === '') throw invalidArgument(`${where}: Config must be the path of the image config`);
    return { config: e.Config, repoTags: strings('RepoTags', e.RepoTags), layers: strings('Layers', e.Layers) };
  });
}

/** The names of an index.json entry: a full name in IMAGE_NAME_ANNOTATION, or in REF_NAME_ANNOTATION when it is more than a tag. */
function ociNames(entry: Descriptor): Reference[] {
  const annotations = entry.annotations ?? {};
  const candidates = [annotations[IMAGE_NAME_ANNOTATION], annotations[REF_NAME_ANNOTATION]].filter(
    (n): n is string => n !== undefined && /[:/@]/.test(n),
  );
  const first = candidates[0];
  if (first === undefined) return [];
  const ref = parseReference(first);
  return ref.digest === undefined ? [ref] : [];
}

function compressionOf(head: Uint8Array): 'gzip' | 'zstd' | 'none' {
  if (GZIP_MAGIC.every((b, i) => head[i] === b)) return 'gzip';
  if (ZSTD_MAGIC.every((b, i) => head[i] === b)) return 'zstd';
  return 'none';
}

const LAYER_TYPES = { none: MediaTypes.ociLayer, gzip: MediaTypes.ociLayerGzip, zstd: MediaTypes.ociLayerZstd } as const;

/**
 * Reads an image archive streamed as source — an OCI image layout tar
 * (index.json, blobs/sha256/…, with or without Docker's manifest.json) or a
 * docker-archive (`docker save`, `skopeo copy … docker-archive:`), plain or
 * gzipped — with bounded memory: each `blobs/sha256/<hex>` entry is
 * written to the store as it arrives and checked against its digest; the
 * documents (index.json, manifest.json, oci-layout, repositories) are read
 * into memory up to MAX_MANIFEST_BYTES each; any other file is spooled to a
 * temporary directory under spoolDir (removed afterwards) and hashed. Entries
 * may come in any order; the last of duplicate names wins; symlinks and
 * hardlinks between files of the archive are followed.
 *
 * Then it links up the images: every index.json entry (manifests, nested
 * indexes to MAX_INDEX_DEPTH, configs and layers all present with the
 * sizes their descriptors say; uncompressed layers must hash to their
 * diff_ids), and every manifest.json entry whose config is not already one
 * of those (its config and layers, spooled or blobs, become an OCI manifest
 * with the layers as they are — uncompressed layers are checked against the
 * config's diff_ids). Only when everything checked out are the manifests
 * labelled (media type, references) and the images returned, with the
 * names the archive gives them; nothing is tagged here.
 *
 * Raises InvalidArgument for a malformed archive: not a tar, an entry
 * named outside the archive root (`../x`, `/x`) or a link pointing there,
 * neither index.json nor manifest.json, a file or blob the documents name
 * that is missing, malformed documents or names. FailedPrecondition when a
 * blob does not match its digest, a descriptor's size or a diff_id.
 * ResourceExhausted for a document over MAX_MANIFEST_BYTES or too many
 * entries.
 */
export async function readImageArchive(source: AsyncIterable<Uint8Array>, options: ReadImageArchiveOptions): Promise<ArchivedImage[]> {
  const { store, logger } = options;
  const hold = options.hold ?? (async () => undefined);
  const spool = await mkdtemp(join(options.spoolDir, 'import-'));
  try {
    const kept = new Map<string, Kept>();
    const links = new Map<string, string>();
    const documents = new Map<string, Buffer>();
    let spooled = 0;

    const storeStream = async (path: string, digest: Digest, size: number, data: AsyncIterable<Uint8Array>): Promise<void> => {
      await hold(digest);
      const ref = `import-${digestHex(digest)}-${randomUUID()}`;
      let writer;
      try {
        writer = await store.writer({ ref, expected: digest, total: size });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        for await (const chunk of data) void chunk;
        return;
      }
      try {
        for await (const chunk of data) await writer.write(chunk);
        await writer.commit({ expected: digest, total: size });
      } catch (err) {
        await writer.close().catch(() => undefined);
        if (isAlreadyExists(err)) return;
        await store.abort(ref).catch(() => undefined);
        if (isFailedPrecondition(err)) {
          throw failedPrecondition(`archive file ${shown(path)} does not match its digest ${digest} (${err.message}); refusing the archive`, {
            cause: err,
            fields: { digest },
          });
        }
        throw err;
      }
    };

    for await (const entry of readTar(maybeGunzip(source), { maxEntries: options.maxEntries ?? 100_000 })) {
      const { header } = entry;
      const path = archivePath(header.name);
      if (header.type === 'symlink' || header.type === 'hardlink') {
        const target = header.type === 'symlink' ? posix.join(posix.dirname(path), header.linkname) : header.linkname;
        if (header.type === 'symlink' && header.linkname.startsWith('/')) {
          throw invalidArgument(`archive entry ${shown(header.name)} links to ${shown(header.linkname)}, outside the archive; refusing the archive`);
        }
        let resolved: string;
        try {
          resolved = archivePath(posix.normalize(target));
        } catch {
          throw invalidArgument(`archive entry ${shown(header.name)} links to ${shown(header.linkname)}, outside the archive; refusing the archive`);
        }
        links.set(path, resolved);
        kept.delete(path);
        continue;
      }
      if (header.type !== 'file') continue;
      links.delete(path);
      const blob = BLOB_PATH.exec(path);
      if (blob !== null) {
        const digest = `sha256:${blob[1]}` as Digest;
        await storeStream(path, digest, header.size, entry.data());
        kept.set(path, { kind: 'blob', digest, size: header.size });
        continue;
      }
      if (DOCUMENTS.has(path)) {
        if (header.size > MAX_MANIFEST_BYTES) {
          throw resourceExhausted(`archive file ${path} is ${header.size} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes; refusing the archive`);
        }
        const parts: Buffer[] = [];
        for await (const chunk of entry.data()) parts.push(chunk);
        documents.set(path, Buffer.concat(parts));
        continue;
      }
      const file = join(spool, String(spooled++));
      const digester = new Digester();
      const handle = await open(file, 'wx', 0o600);
      try {
        for await (const chunk of entry.data()) {
          digester.update(chunk);
          await handle.write(chunk);
        }
      } finally {
        await handle.close();
      }
      kept.set(path, { kind: 'spool', file, digest: digester.digest(), size: header.size });
    }

    const lookup = (path: string, what: string): Kept => {
      let current: string;
      try {
        current = archivePath(path);
      } catch {
        throw invalidArgument(`archive ${what} ${shown(path)} points outside the archive; refusing the archive`);
      }
      for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
        const found = kept.get(current);
        if (found !== undefined) return found;
        const next = links.get(current);
        if (next === undefined) break;
        current = next;
      }
      throw invalidArgument(`archive ${what} ${shown(path)} is not in the archive; refusing the archive`);
    };
    const readKept = async (k: Kept, what: string): Promise<Buffer> => {
      if (k.size > MAX_MANIFEST_BYTES) throw resourceExhausted(`archive ${what} is ${k.size} bytes, over the limit of ${MAX_MANIFEST_BYTES} bytes`);
      if (k.kind === 'blob') return readBlob(store, k.digest);
      const handle = await open(k.file, 'r');
      try {
        return await handle.readFile();
      } finally {
        await handle.close();
      }
    };
    const headOf = async (k: Kept): Promise<Uint8Array> => {
      if (k.size === 0) return new Uint8Array(0);
      if (k.kind === 'blob') return readBlob(store, k.digest, { offset: 0, length: Math.min(4, k.size) });
      const handle = await open(k.file, 'r');
      try {
        const buffer = Buffer.alloc(4);
        const { bytesRead } = await handle.read(buffer, 0, 4, 0);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    };

    const indexBytes = documents.get('index.json');
    const manifestBytes = documents.get('manifest.json');
    if (indexBytes === undefined && manifestBytes === undefined) {
      throw invalidArgument('archive is not an image archive: it has neither index.json (OCI image layout) nor manifest.json (docker save)');
    }

    /** Manifests and indexes to label once everything checked out. */
    const pending = new Map<Digest, ManifestDocument>();
    /** Config digest → the image (top descriptor) it belongs to, for matching manifest.json entries. */
    const byConfig = new Map<Digest, Digest>();
    const images = new Map<Digest, ArchivedImage>();
    const addImage = (target: Descriptor, id: Digest, names: readonly Reference[]) => {
      const image = images.get(target.digest) ?? { target: { mediaType: target.mediaType, digest: target.digest, size: target.size }, id, names: [] };
      for (const name of names) if (!image.names.some((n) => n.toString() === name.toString())) image.names.push(name);
      images.set(target.digest, image);
    };

    const checkStored = async (descriptor: Descriptor, what: string): Promise<void> => {
      let size: number;
      try {
        size = (await store.info(descriptor.digest)).size;
      } catch (err) {
        if (isNotFound(err)) throw invalidArgument(`archive is missing ${what} ${descriptor.digest}; refusing the archive`, { fields: { digest: descriptor.digest } });
        throw err;
      }
      if (size !== descriptor.size) {
        throw failedPrecondition(`archive ${what} ${descriptor.digest} has ${size} bytes, not the ${descriptor.size} its descriptor says`, {
          fields: { digest: descriptor.digest },
        });
      }
      await hold(descriptor.digest);
    };

    const checkLayers = async (manifest: ImageManifest, config: ImageConfig, what: string): Promise<void> => {
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw failedPrecondition(`${what}: the manifest has ${manifest.layers.length} layers, but its config ${diffIds.length} diff_ids`);
      }
      for (const [i, layer] of manifest.layers.entries()) {
        if (layer.urls !== undefined && layer.urls.length > 0) continue;
        await checkStored(layer, `layer ${i} of ${what}`);
        if (layerCompression(layer.mediaType) === 'none' && layer.digest !== diffIds[i]) {
          throw failedPrecondition(`${what}: uncompressed layer ${layer.digest} is not its diff_id ${diffIds[i]}`, { fields: { digest: layer.digest } });
        }
      }
    };

    /** Checks a manifest or index and everything under it; returns the image id that stands for it. */
    const link = async (descriptor: Descriptor, depth: number): Promise<Digest> => {
      await checkStored(descriptor, 'manifest');
      const bytes = await readBlob(store, descriptor.digest);
      let parsed: ManifestDocument;
      try {
        parsed = parseManifestDocument(bytes, descriptor.mediaType, { expectedDigest: descriptor.digest });
      } catch (err) {
        if (isInvalidArgument(err)) throw invalidArgument(`archive manifest ${descriptor.digest}: ${err.message}`, { cause: err });
        throw err;
      }
      if (parsed.kind === 'index') {
        checkIndexDepth(depth, MAX_INDEX_DEPTH);
        const ids = new Map<Digest, Digest>();
        for (const child of parsed.document.manifests) ids.set(child.digest, await link(child, depth + 1));
        pending.set(descriptor.digest, parsed);
        let chosen: Descriptor | undefined;
        try {
          chosen = selectPlatform(parsed.document, options.hostPlatform);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        const id = ids.get((chosen ?? parsed.document.manifests[0])?.digest as Digest);
        if (id === undefined) throw invalidArgument(`archive index ${descriptor.digest} lists no manifests`);
        return id;
      }
      const manifest = parsed.document;
      await checkStored(manifest.config, `config of manifest ${descriptor.digest}`);
      const config = parseImageConfig(await readBlob(store, manifest.config.digest), { expectedDigest: manifest.config.digest });
      await checkLayers(manifest, config, `image ${manifest.config.digest}`);
      pending.set(descriptor.digest, parsed);
      return manifest.config.digest;
    };

    if (indexBytes !== undefined) {
      let index: ManifestDocument;
      try {
        index = parseManifestDocument(indexBytes, MediaTypes.ociIndex);
      } catch (err) {
        if (isInvalidArgument(err)) throw invalidArgument(`archive index.json: ${err.message}`, { cause: err });
        throw err;
      }
      if (index.kind !== 'index') throw invalidArgument('archive index.json is not an image index');
      for (const entry of index.document.manifests) {
        const id = await link(entry, 1);
        const names = ociNames(entry);
        addImage(entry, id, names);
        const parsed = pending.get(entry.digest);
        if (parsed?.kind === 'manifest') byConfig.set(parsed.document.config.digest, entry.digest);
        if (parsed?.kind === 'index') {
          for (const child of parsed.document.manifests) {
            const doc = pending.get(child.digest);
            if (doc?.kind === 'manifest') byConfig.set(doc.document.config.digest, entry.digest);
          }
        }
      }
    }

    if (manifestBytes !== undefined) {
      for (const [i, entry] of parseDockerManifest(manifestBytes).entries()) {
        const what = `manifest.json entry ${i}`;
        const names = entry.repoTags.map((tag) => {
          const ref = parseReference(tag);
          if (ref.digest !== undefined) throw invalidArgument(`archive ${what}: RepoTags entry ${shown(tag)} has a digest; only name:tag is allowed`);
          return ref;
        });
        const configKept = lookup(entry.config, `config of ${what}`);
        const matched = byConfig.get(configKept.digest);
        if (matched !== undefined) {
          const image = images.get(matched) as ArchivedImage;
          addImage(image.target, image.id, names);
          continue;
        }
        const configBytes = await readKept(configKept, `config of ${what}`);
        const configDigest = digestOf(configBytes);
        const config = parseImageConfig(configBytes);
        await hold(configDigest);
        await putBlob(store, configDigest, configBytes, {}, 'import');
        if (config.rootfs.diff_ids.length !== entry.layers.length) {
          throw failedPrecondition(`archive ${what}: it lists ${entry.layers.length} layers, but its config ${config.rootfs.diff_ids.length} diff_ids`);
        }
        const layers: Descriptor[] = [];
        for (const [l, path] of entry.layers.entries()) {
          const layer = lookup(path, `layer ${l} of ${what}`);
          const compression = compressionOf(await headOf(layer));
          const diffId = config.rootfs.diff_ids[l] as Digest;
          if (compression === 'none' && layer.digest !== diffId) {
            throw failedPrecondition(`archive ${what}: layer ${shown(path)} has digest ${layer.digest}, not its diff_id ${diffId}; refusing the archive`, {
              fields: { digest: layer.digest },
            });
          }
          if (layer.kind === 'spool') await storeStream(path, layer.digest, layer.size, createReadStream(layer.file));
          else await hold(layer.digest);
          layers.push({ mediaType: LAYER_TYPES[compression], digest: layer.digest, size: layer.size });
        }
        const manifest = {
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: configBytes.length },
          layers,
        };
        const bytes = Buffer.from(JSON.stringify(manifest));
        const digest = digestOf(bytes);
        await hold(digest);
        await putBlob(store, digest, bytes, {}, 'import');
        pending.set(digest, parseManifestDocument(bytes, MediaTypes.ociManifest, { expectedDigest: digest }));
        byConfig.set(configDigest, digest);
        addImage({ mediaType: MediaTypes.ociManifest, digest, size: bytes.length }, configDigest, names);
      }
    }

    for (const [digest, parsed] of pending) await labelManifest(store, digest, parsed);
    logger.debug({ images: images.size, blobs: kept.size }, 'archive read');
    return [...images.values()];
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}
