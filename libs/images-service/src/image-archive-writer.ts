import { failedPrecondition, invalidArgument, isStrataError } from '@strata/kit';
import { DEFAULT_DECOMPRESS_LIMITS, decompress } from '@strata/layer-diff';
import { Digester, MediaTypes, digestHex, layerCompression, parseImageConfig, type Descriptor, type Digest, type ImageIndex, type Reference } from '@strata/oci';
import { createTarWriter, type TarEntry } from '@strata/tar';
import { readBlob, type Store } from '@strata/content';
import type { ImageTree } from './image-content.js';

/** The archive formats of Export: see {@link writeImageArchive}. */
export const ARCHIVE_FORMATS = ['oci-archive', 'docker-archive'] as const;

/** One of {@link ARCHIVE_FORMATS}. */
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

/** The annotation of index.json entries that names the image's tag (OCI image layout). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** The annotation of index.json entries with the image's full name, as containerd and Docker 25+ write it. */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';

/** An image to put into an archive: its content, and the names it gets there (none: unnamed). */
export interface ArchiveImage {
  tree: ImageTree;
  /** The image's own (platform) manifest: what Docker's manifest.json describes. */
  manifest: Descriptor;
  names: readonly Reference[];
}

/** Parses a format name; '' is oci-archive. InvalidArgument for another name. */
export function parseArchiveFormat(text: string): ArchiveFormat {
  if (text === '') return 'oci-archive';
  if ((ARCHIVE_FORMATS as readonly string[]).includes(text)) return text as ArchiveFormat;
  throw invalidArgument(`unknown archive format ${JSON.stringify(text.slice(0, 50))}; use oci-archive or docker-archive`);
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;
const dir = (name: string): TarEntry => ({ name, type: 'directory', mode: DIR_MODE });
const file = (name: string, size: number): TarEntry => ({ name, type: 'file', mode: FILE_MODE, size });
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const blobPath = (digest: Digest) => `blobs/sha256/${digestHex(digest)}`;

async function* blobChunks(store: Store, digest: Digest): AsyncGenerator<Uint8Array> {
  const reader = await store.read(digest);
  yield* reader.chunks;
}

/** The decompressed size and digest of a layer blob (one pass, for a tar header that must state the size first). */
async function measureLayer(store: Store, layer: Descriptor): Promise<{ size: number; digest: Digest }> {
  const compression = layerCompression(layer.mediaType) ?? 'none';
  const digester = new Digester();
  let size = 0;
  for await (const chunk of decompress(blobChunks(store, layer.digest), compression, `layer ${layer.digest}`, DEFAULT_DECOMPRESS_LIMITS, { compressed: 0, decompressed: 0 })) {
    digester.update(chunk);
    size += chunk.length;
  }
  return { size, digest: digester.digest() };
}

/**
 * Streams an archive of images, deterministic for the same images, names
 * and format:
 *
 * - `oci-archive`: an OCI image layout — `oci-layout`, every blob once under
 *   `blobs/sha256/<hex>` (manifests, indexes, configs, layers as stored),
 *   `index.json` with one entry per name (annotations
 *   {@link IMAGE_NAME_ANNOTATION} = the full name and
 *   {@link REF_NAME_ANNOTATION} = its tag; one entry without annotations for
 *   an unnamed image) — plus Docker's `manifest.json` (Config, RepoTags in
 *   Docker's familiar form, Layers, all pointing into blobs/), as Docker 25+
 *   writes it, so older `docker load` reads it too.
 * - `docker-archive`: Docker's legacy layout as skopeo writes it —
 *   `<config hex>.json`, each layer uncompressed as `<diff_id hex>.tar`,
 *   `manifest.json` and `repositories` — for the platform manifest of each
 *   image (an index has no place in it). Each layer is decompressed twice:
 *   once to learn its size for the tar header (and check its diff_id), once
 *   to write it.
 *
 * Errors surface from the iteration: FailedPrecondition when a layer does
 * not decompress to its config's diff_id, what the store raises for a
 * missing blob. Ending the iteration early stops the writing.
 */
export async function* writeImageArchive(store: Store, images: readonly ArchiveImage[], format: ArchiveFormat): AsyncGenerator<Uint8Array> {
  const tar = createTarWriter({ highWaterMark: 256 * 1024 });
  const produce = format === 'oci-archive' ? () => writeOci(store, images, tar.add.bind(tar)) : () => writeDocker(store, images, tar.add.bind(tar));
  let failure: { error: unknown } | undefined;
  const producing = (async () => {
    try {
      await produce();
      await tar.finish();
    } catch (error) {
      failure = { error };
      tar.stream.destroy();
    }
  })();
  try {
    for await (const chunk of tar.stream as AsyncIterable<Uint8Array>) yield chunk;
  } catch (err) {
    if (failure === undefined) throw err;
  } finally {
    if (!tar.stream.destroyed) tar.stream.destroy();
    await producing;
  }
  if (failure !== undefined && !(isStrataError(failure.error) && failure.error.kind === 'Canceled')) throw failure.error;
}

type Add = (entry: TarEntry, data?: Uint8Array | AsyncIterable<Uint8Array>) => Promise<void>;

function dockerEntry(image: ArchiveImage, config: string, layers: string[]) {
  return {
    Config: config,
    RepoTags: image.names.length === 0 ? null : image.names.map((n) => n.familiar()),
    Layers: layers,
  };
}

async function writeOci(store: Store, images: readonly ArchiveImage[], add: Add): Promise<void> {
  await add(file('oci-layout', json({ imageLayoutVersion: '1.0.0' }).length), json({ imageLayoutVersion: '1.0.0' }));
  await add(dir('blobs/'));
  await add(dir('blobs/sha256/'));
  const written = new Set<Digest>();
  const put = async (digest: Digest, size: number, bytes?: Uint8Array) => {
    if (written.has(digest)) return;
    written.add(digest);
    await add(file(blobPath(digest), size), bytes ?? blobChunks(store, digest));
  };
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
  const manifestJson: unknown[] = [];
  for (const image of images) {
    const { tree } = image;
    for (const blob of tree.blobs) await put(blob.digest, blob.size);
    for (const m of tree.manifests) await put(m.descriptor.digest, m.bytes.length, m.bytes);
    await put(tree.top.descriptor.digest, tree.top.bytes.length, tree.top.bytes);
    const top: Descriptor = { mediaType: tree.top.descriptor.mediaType, digest: tree.top.descriptor.digest, size: tree.top.descriptor.size };
    if (image.names.length === 0) index.manifests.push(top);
    for (const name of image.names) {
      index.manifests.push({ ...top, annotations: { [IMAGE_NAME_ANNOTATION]: name.toString(), [REF_NAME_ANNOTATION]: name.tag ?? 'latest' } });
    }
    const own = tree.manifests.find((m) => m.descriptor.digest === image.manifest.digest) ?? tree.manifests[0];
    if (own !== undefined && own.document.layers.every((l) => l.urls === undefined || l.urls.length === 0)) {
      manifestJson.push(dockerEntry(image, blobPath(own.document.config.digest), own.document.layers.map((l) => blobPath(l.digest))));
    }
  }
  const indexBytes = json(index);
  await add(file('index.json', indexBytes.length), indexBytes);
  const manifestBytes = json(manifestJson);
  await add(file('manifest.json', manifestBytes.length), manifestBytes);
}

async function writeDocker(store: Store, images: readonly ArchiveImage[], add: Add): Promise<void> {
  const written = new Set<string>();
  const manifestJson: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const image of images) {
    const own = image.tree.manifests.find((m) => m.descriptor.digest === image.manifest.digest) ?? image.tree.manifests[0];
    if (own === undefined) continue;
    const { document } = own;
    const configBytes = await readBlob(store, document.config.digest);
    const config = parseImageConfig(configBytes, { expectedDigest: document.config.digest });
    const diffIds = config.rootfs.diff_ids;
    if (document.layers.some((l) => l.urls !== undefined && l.urls.length > 0) || diffIds.length !== document.layers.length) {
      throw failedPrecondition(`image ${document.config.digest} cannot be written as a docker-archive: its manifest has ${document.layers.length} layers (or foreign ones) for ${diffIds.length} diff_ids`);
    }
    const configName = `${digestHex(document.config.digest)}.json`;
    if (!written.has(configName)) {
      written.add(configName);
      await add(file(configName, configBytes.length), configBytes);
    }
    const layerNames: string[] = [];
    for (const [i, layer] of document.layers.entries()) {
      const diffId = diffIds[i] as Digest;
      const name = `${digestHex(diffId)}.tar`;
      layerNames.push(name);
      if (written.has(name)) continue;
      written.add(name);
      const compression = layerCompression(layer.mediaType) ?? 'none';
      const measured = compression === 'none' ? { size: layer.size, digest: layer.digest } : await measureLayer(store, layer);
      if (measured.digest !== diffId) {
        throw failedPrecondition(`layer ${layer.digest} decompresses to ${measured.digest}, not the diff_id ${diffId} of image ${document.config.digest}`, {
          fields: { digest: layer.digest },
        });
      }
      const data =
        compression === 'none'
          ? blobChunks(store, layer.digest)
          : decompress(blobChunks(store, layer.digest), compression, `layer ${layer.digest}`, DEFAULT_DECOMPRESS_LIMITS, { compressed: 0, decompressed: 0 });
      await add(file(name, measured.size), data);
    }
    manifestJson.push(dockerEntry(image, configName, layerNames));
    const top = diffIds.at(-1);
    for (const ref of image.names) {
      if (top === undefined) continue;
      const familiar = ref.familiar();
      const repo = familiar.slice(0, familiar.length - `:${ref.tag ?? 'latest'}`.length);
      (repositories[repo] ??= {})[ref.tag ?? 'latest'] = digestHex(top);
    }
  }
  const manifestBytes = json(manifestJson);
  await add(file('manifest.json', manifestBytes.length), manifestBytes);
  const repositoriesBytes = json(repositories);
  await add(file('repositories', repositoriesBytes.length), repositoriesBytes);
}
