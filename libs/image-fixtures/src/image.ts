import { invalidArgument } from '@strata/kit';
import {
  MediaTypes,
  digestOf,
  type ContainerConfig,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '@strata/oci';
import { buildLayer, type BuiltLayer, type FixtureFormat, type ImageBlob, type LayerSpec } from './layer.js';

/** The default `created` time of fixtures: fixed, so builds are reproducible. */
export const FIXTURE_CREATED = '2024-01-01T00:00:00Z';

/** What {@link buildImage} builds. */
export interface ImageSpec {
  /** Bottom first. An image with no layers is allowed (a config-only image). */
  layers: readonly LayerSpec[];
  /** The run configuration: Entrypoint, Cmd, Env, WorkingDir, ExposedPorts, Labels, User… */
  config?: ContainerConfig;
  /** linux/amd64 by default. */
  platform?: Platform;
  /** RFC 3339; {@link FIXTURE_CREATED} by default. Also the mtime of entries that set none. */
  created?: string;
  author?: string;
  /** Media types: OCI (default) or Docker schema 2. */
  format?: FixtureFormat;
  /** Annotations of the manifest. */
  annotations?: Record<string, string>;
}

/** A built image: layers, config and manifest, each with its bytes and descriptor fields. */
export interface BuiltImage {
  kind: 'image';
  layers: BuiltLayer[];
  config: ImageBlob;
  configDocument: ImageConfig;
  manifest: ImageBlob;
  manifestDocument: ImageManifest;
  platform: Platform;
  /** The manifest's descriptor, with its platform (an index entry). */
  descriptor: Descriptor;
  /** Layers and config without duplicates: what a push uploads before the manifest. */
  blobs: ImageBlob[];
}

/** A built multi-platform index and the images it lists. */
export interface BuiltIndex {
  kind: 'index';
  index: ImageBlob;
  indexDocument: ImageIndex;
  images: BuiltImage[];
  descriptor: Descriptor;
}

/** Anything {@link writeOciLayout} and pushImage take. */
export type BuiltArtifact = BuiltImage | BuiltIndex;

const encode = (document: unknown): Uint8Array => Buffer.from(JSON.stringify(document));

function blob(mediaType: string, bytes: Uint8Array): ImageBlob {
  return { mediaType, digest: digestOf(bytes), size: bytes.length, bytes };
}

/** The descriptor of a blob (no bytes). */
export function descriptorOf(content: ImageBlob, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType: content.mediaType, digest: content.digest, size: content.size, ...extra };
}

function epochSeconds(created: string): number {
  const ms = Date.parse(created);
  if (Number.isNaN(ms)) throw invalidArgument(`fixture created time ${JSON.stringify(created)} is not an RFC 3339 time`);
  return Math.floor(ms / 1000);
}

/**
 * Builds an image from a spec: every layer's tar and blob, a config with
 * the platform, run config, `rootfs.diff_ids` in layer order and one history
 * entry per layer, and the manifest, in OCI or Docker media types. The same
 * spec always gives the same digests. Raises InvalidArgument for bad paths
 * or times, NotFound for a missing layer directory.
 */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const format = spec.format ?? 'oci';
  const created = spec.created ?? FIXTURE_CREATED;
  const mtime = epochSeconds(created);
  const platform: Platform = spec.platform ?? { architecture: 'amd64', os: 'linux' };
  const layers: BuiltLayer[] = [];
  for (const [index, layer] of spec.layers.entries()) layers.push(await buildLayer(layer, { mtime, format, index }));

  const history: HistoryEntry[] = layers.map((layer) => ({ created, created_by: layer.createdBy }));
  const configDocument: ImageConfig = {
    created,
    ...(spec.author === undefined ? {} : { author: spec.author }),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    ...(platform['os.version'] === undefined ? {} : { 'os.version': platform['os.version'] }),
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history,
  };
  const config = blob(format === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig, encode(configDocument));
  const manifestMediaType = format === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
  const manifestDocument: ImageManifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: descriptorOf(config),
    layers: layers.map((l) => descriptorOf(l)),
    ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }),
  };
  const manifest = blob(manifestMediaType, encode(manifestDocument));
  const blobs = new Map<string, ImageBlob>();
  for (const content of [...layers, config]) blobs.set(content.digest, content);
  return {
    kind: 'image',
    layers,
    config,
    configDocument,
    manifest,
    manifestDocument,
    platform,
    descriptor: descriptorOf(manifest, { platform }),
    blobs: [...blobs.values()],
  };
}

/** Settings of {@link buildIndex}. */
export interface IndexOptions {
  /** OCI index (default) or Docker manifest list. */
  format?: FixtureFormat;
  annotations?: Record<string, string>;
}

/**
 * A multi-platform index over images, each entry carrying its image's
 * platform. Raises InvalidArgument when images is empty or two images have
 * the same platform.
 */
export function buildIndex(images: readonly BuiltImage[], options: IndexOptions = {}): BuiltIndex {
  if (images.length === 0) throw invalidArgument('an index needs at least one image');
  const seen = new Set<string>();
  for (const image of images) {
    const key = [image.platform.os, image.platform.architecture, image.platform.variant ?? ''].join('/');
    if (seen.has(key)) throw invalidArgument(`two images of the index have platform ${key.replace(/\/$/, '')}`);
    seen.add(key);
  }
  const mediaType = (options.format ?? 'oci') === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
  const indexDocument: ImageIndex = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((image) => image.descriptor),
    ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
  };
  const index = blob(mediaType, encode(indexDocument));
  return { kind: 'index', index, indexDocument, images: [...images], descriptor: descriptorOf(index) };
}

/** The top document of an artifact: the index of an index, the manifest of an image. */
export function topDocument(artifact: BuiltArtifact): ImageBlob {
  return artifact.kind === 'index' ? artifact.index : artifact.manifest;
}

/** Every blob of an artifact, without duplicates: layers, configs, manifests and the index. */
export function allBlobs(artifact: BuiltArtifact): ImageBlob[] {
  const images = artifact.kind === 'index' ? artifact.images : [artifact];
  const out = new Map<string, ImageBlob>();
  for (const image of images) for (const content of [...image.blobs, image.manifest]) out.set(content.digest, content);
  if (artifact.kind === 'index') out.set(artifact.index.digest, artifact.index);
  return [...out.values()];
}
