/**
 * Media types of the OCI image spec and of Docker's image manifest v2
 * (schema 2), as registries send them in `Content-Type` and descriptors
 * carry them in `mediaType`.
 */
export const MediaTypes = {
  /** OCI descriptor (a document that is one descriptor). */
  ociDescriptor: 'application/vnd.oci.descriptor.v1+json',
  /** `oci-layout` file of an OCI image layout. */
  ociLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  /** OCI image index: a list of manifests, usually one per platform. */
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  /** OCI image manifest: one config and its layers. */
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  /** OCI image config: platform, rootfs diff_ids, history, run config. */
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  /** OCI empty descriptor target (`{}`), the config of artifacts. */
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  /** OCI layer, uncompressed tar. */
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  /** OCI layer, gzip-compressed tar. */
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  /** OCI layer, zstd-compressed tar. */
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** OCI non-distributable layer, uncompressed (deprecated by the spec; may carry foreign `urls`). */
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  /** OCI non-distributable layer, gzip (deprecated by the spec; may carry foreign `urls`). */
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  /** OCI non-distributable layer, zstd (deprecated by the spec; may carry foreign `urls`). */
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',

  /** Docker manifest list: the Docker form of an image index. */
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  /** Docker image manifest v2, schema 2. */
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  /** Docker image manifest schema 1 (unsigned); Strata refuses it. */
  dockerManifestSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  /** Docker image manifest schema 1 with a JWS signature; Strata refuses it. */
  dockerManifestSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  /** Docker image config (same shape as the OCI config). */
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  /** Docker layer, gzip-compressed tar. */
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Docker layer, uncompressed tar (written by some tools, e.g. buildkit exports). */
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  /** Docker layer, zstd-compressed tar (written by buildkit with `compression=zstd`). */
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  /** Docker foreign layer (Windows base layers), fetched from its `urls`. */
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** Docker plugin config. */
  dockerPluginConfig: 'application/vnd.docker.plugin.v1+json',
} as const;

/** One of the known media types in {@link MediaTypes}. */
export type KnownMediaType = (typeof MediaTypes)[keyof typeof MediaTypes];

/** Media types of image manifests (one config, many layers). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaTypes.ociManifest, MediaTypes.dockerManifest];
/** Media types of image indexes (lists of manifests). */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];
/** Media types of Docker schema 1 manifests, which Strata refuses. */
export const SCHEMA1_MEDIA_TYPES: readonly string[] = [MediaTypes.dockerManifestSchema1, MediaTypes.dockerManifestSchema1Signed];

/**
 * The `Accept` header value a client sends for a manifest: every manifest and
 * index type Strata parses, OCI first.
 */
export const MANIFEST_ACCEPT = [MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerManifestList, MediaTypes.dockerManifest].join(
  ', ',
);

/** How a layer's tar is compressed. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

const LAYERS: ReadonlyMap<string, { compression: LayerCompression; foreign: boolean }> = new Map([
  [MediaTypes.ociLayer, { compression: 'none', foreign: false }],
  [MediaTypes.ociLayerGzip, { compression: 'gzip', foreign: false }],
  [MediaTypes.ociLayerZstd, { compression: 'zstd', foreign: false }],
  [MediaTypes.ociLayerNondistributable, { compression: 'none', foreign: true }],
  [MediaTypes.ociLayerNondistributableGzip, { compression: 'gzip', foreign: true }],
  [MediaTypes.ociLayerNondistributableZstd, { compression: 'zstd', foreign: true }],
  [MediaTypes.dockerLayer, { compression: 'none', foreign: false }],
  [MediaTypes.dockerLayerGzip, { compression: 'gzip', foreign: false }],
  [MediaTypes.dockerLayerZstd, { compression: 'zstd', foreign: false }],
  [MediaTypes.dockerForeignLayerGzip, { compression: 'gzip', foreign: true }],
]);

/**
 * The bare media type of a `Content-Type` value: parameters (`; charset=…`)
 * and surrounding spaces removed, lower-cased (media types compare without
 * regard to case, RFC 6838).
 */
export function baseMediaType(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** True for an image manifest media type (OCI or Docker schema 2). */
export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(baseMediaType(mediaType));
}

/** True for an image index media type (OCI index or Docker manifest list). */
export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_MEDIA_TYPES.includes(baseMediaType(mediaType));
}

/** True for an image config media type (OCI or Docker). */
export function isConfigMediaType(mediaType: string): boolean {
  const base = baseMediaType(mediaType);
  return base === MediaTypes.ociConfig || base === MediaTypes.dockerConfig;
}

/** True for a layer media type Strata can unpack (a tar, plain or compressed), foreign ones included. */
export function isLayerMediaType(mediaType: string): boolean {
  return LAYERS.has(baseMediaType(mediaType));
}

/**
 * True for a non-distributable (foreign) layer type: its descriptor may carry
 * `urls` that point outside the registry (see `layerUrlsAllowed`).
 */
export function isForeignLayerMediaType(mediaType: string): boolean {
  return LAYERS.get(baseMediaType(mediaType))?.foreign === true;
}

/** The compression of a layer media type, or undefined when it is not a known layer type. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYERS.get(baseMediaType(mediaType))?.compression;
}
