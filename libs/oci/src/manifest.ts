import { invalidArgument } from '@strata/kit';
import { digestOf, type Digest } from './digest.js';
import { JsonReader, isObject, join, type JsonObject } from './json-reader.js';
import { MediaTypes, SCHEMA1_MEDIA_TYPES, baseMediaType, isIndexMediaType, isManifestMediaType } from './media-types.js';

/** The platform an image runs on, as in an index entry or an image config. */
export interface Platform {
  /** CPU architecture in Go's names: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`… */
  architecture: string;
  /** Operating system in Go's names: `linux`, `windows`, `darwin`… */
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  /** CPU variant: `v7` for arm, `v8` for arm64, `v2`/`v3` for amd64… */
  variant?: string;
  features?: string[];
}

/** A reference to content by media type, digest and size (OCI descriptor). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  /** Where a non-distributable layer may be fetched from; see `layerUrlsAllowed`. */
  urls?: string[];
  annotations?: Record<string, string>;
  /** The content itself, base64; checked against digest and size when parsed. */
  data?: string;
  /** Platform of the manifest an index entry points at. */
  platform?: Platform;
  artifactType?: string;
}

/** An image manifest (OCI, or Docker schema 2, which has the same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An image index (OCI, or a Docker manifest list, which has the same shape). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * A parsed manifest document: which of the two it is, its media type (the
 * document's `mediaType`, else the `Content-Type`, else the OCI type of its
 * kind) and the document with only the fields below, all type-checked.
 */
export type ManifestDocument =
  | { kind: 'manifest'; mediaType: string; document: ImageManifest }
  | { kind: 'index'; mediaType: string; document: ImageIndex };

/** Largest manifest, index or config Strata parses (4 MiB, like distribution and containerd). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Most entries in one image index. */
export const MAX_INDEX_MANIFESTS = 1000;
/** Deepest nesting of indexes: a root index is depth 1, an index it lists is depth 2… */
export const MAX_INDEX_DEPTH = 4;

/** Limits and checks for {@link parseManifestDocument}. */
export interface ParseManifestOptions {
  /** Largest document in bytes; default {@link MAX_MANIFEST_BYTES}. */
  maxBytes?: number;
  /** Most entries of an index; default {@link MAX_INDEX_MANIFESTS}. */
  maxManifests?: number;
  /** The digest the bytes must have (checked before they are parsed). */
  expectedDigest?: Digest;
}

/** `Content-Type` values that say nothing about which document it is. */
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);
const MANIFEST_FIELDS = ['schemaVersion', 'mediaType', 'artifactType', 'config', 'layers', 'manifests', 'subject', 'annotations'];
const DESCRIPTOR_FIELDS = ['mediaType', 'digest', 'size', 'urls', 'annotations', 'data', 'platform', 'artifactType'];
const PLATFORM_FIELDS = ['architecture', 'os', 'os.version', 'os.features', 'variant', 'features'];
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SCHEMA1_REFUSAL = 'Docker schema 1 manifests are not supported; push the image again with a current client (schema 2 or OCI)';

/**
 * Parses the bytes of an image manifest or index, strictly. contentType is
 * the `Content-Type` it came with (parameters ignored); absent or generic
 * (`application/json`, `application/octet-stream`), the document's own
 * `mediaType`, else its shape, decides the kind.
 *
 * Every refusal is InvalidArgument with a sentence naming the problem:
 * - over options.maxBytes (4 MiB): `manifest is N bytes, over the limit of M bytes`;
 * - bytes that do not hash to options.expectedDigest;
 * - not UTF-8, not JSON, not an object;
 * - a Content-Type that is no manifest or index type (a layer asked for on the
 *   manifests endpoint), and Docker schema 1;
 * - `schemaVersion` other than 2;
 * - both `manifests` and `layers`/`config`, a `mediaType` that disagrees with
 *   the Content-Type, or a kind that disagrees with the fields (CVE-2021-41190);
 * - keys that differ from a known field only in case (Go reads them as it);
 * - wrongly typed fields, descriptors with malformed media types or digests,
 *   negative or non-integer sizes, inline `data` that does not match them;
 * - an index with more than options.maxManifests (1000) entries.
 */
export function parseManifestDocument(bytes: Uint8Array, contentType?: string, options: ParseManifestOptions = {}): ManifestDocument {
  const reader = new JsonReader('manifest');
  const declared = contentType === undefined ? '' : baseMediaType(contentType);
  const specific = GENERIC_CONTENT_TYPES.has(declared) ? undefined : declared;
  if (specific !== undefined) {
    if (SCHEMA1_MEDIA_TYPES.includes(specific)) throw invalidArgument(SCHEMA1_REFUSAL);
    if (!isManifestMediaType(specific) && !isIndexMediaType(specific)) {
      throw invalidArgument(`Content-Type ${JSON.stringify(shorten(contentType ?? ''))} is not an image manifest or index media type`);
    }
  }
  const maxBytes = options.maxBytes ?? MAX_MANIFEST_BYTES;
  reader.checkLength(bytes, maxBytes);
  if (options.expectedDigest !== undefined) checkContentDigest(reader.label, bytes, options.expectedDigest);
  const root = reader.root(reader.decode(bytes, maxBytes));
  reader.refuseCaseVariants(root, MANIFEST_FIELDS, '');
  checkSchemaVersion(reader, root);

  const ownMediaType = reader.optionalString(root, 'mediaType', '');
  if (ownMediaType !== undefined) {
    if (SCHEMA1_MEDIA_TYPES.includes(ownMediaType)) throw invalidArgument(SCHEMA1_REFUSAL);
    if (!MANIFEST_KINDS.has(ownMediaType)) {
      throw invalidArgument(`manifest field mediaType is ${JSON.stringify(shorten(ownMediaType))}, not an image manifest or index media type`);
    }
    if (specific !== undefined && ownMediaType !== specific) {
      throw invalidArgument(
        `manifest mediaType ${JSON.stringify(ownMediaType)} disagrees with its Content-Type ${JSON.stringify(specific)}; refused (CVE-2021-41190)`,
      );
    }
  }
  const hasManifests = Object.hasOwn(root, 'manifests');
  const hasImageFields = Object.hasOwn(root, 'layers') || Object.hasOwn(root, 'config');
  if (hasManifests && hasImageFields) {
    throw invalidArgument(
      'manifest has both "manifests" and "layers"/"config"; a document must be an image manifest or an image index, not both (CVE-2021-41190)',
    );
  }
  const mediaTypeOfKind = ownMediaType ?? specific;
  const kind = mediaTypeOfKind !== undefined ? MANIFEST_KINDS.get(mediaTypeOfKind) : hasManifests ? 'index' : hasImageFields ? 'manifest' : undefined;
  if (kind === undefined) {
    throw invalidArgument('manifest has neither "manifests" nor "config" and "layers"; it is not an image manifest or index');
  }
  if (kind === 'index') {
    if (hasImageFields) throw invalidArgument('image index must not have "layers" or "config" (CVE-2021-41190)');
    return { kind, mediaType: mediaTypeOfKind ?? MediaTypes.ociIndex, document: readIndex(root, options.maxManifests ?? MAX_INDEX_MANIFESTS) };
  }
  if (hasManifests) throw invalidArgument('image manifest must not have "manifests" (CVE-2021-41190)');
  return { kind, mediaType: mediaTypeOfKind ?? MediaTypes.ociManifest, document: readManifest(root) };
}

/**
 * Checks the nesting depth of an index about to be followed: depth counts the
 * indexes from the root (1) down to this one. InvalidArgument beyond max
 * (default {@link MAX_INDEX_DEPTH}): `image index nested 5 deep, over the limit of 4`.
 */
export function checkIndexDepth(depth: number, max: number = MAX_INDEX_DEPTH): void {
  if (!Number.isSafeInteger(depth) || depth < 1) throw invalidArgument(`index depth must be a positive integer, got ${depth}`);
  if (depth > max) throw invalidArgument(`image index nested ${depth} deep, over the limit of ${max}`, { fields: { depth, limit: max } });
}

/**
 * Raises InvalidArgument unless bytes hash to expected, naming both digests:
 * parse only the bytes that were hashed. label names the document in the
 * message (`manifest`, `image config`).
 */
export function checkContentDigest(label: string, bytes: Uint8Array, expected: Digest): void {
  const actual = digestOf(bytes);
  if (actual !== expected) {
    throw invalidArgument(`${label} content has digest ${actual}, not the expected ${expected}`, { fields: { digest: expected, actual } });
  }
}

/**
 * Reads one descriptor at path: media type, digest, size, optional urls,
 * annotations, data, platform and artifactType.
 */
function readDescriptor(reader: JsonReader, value: unknown, path: string): Descriptor {
  if (value === undefined || value === null) throw reader.missing(path);
  if (!isObject(value)) throw reader.fail(path, 'an object', value);
  reader.refuseCaseVariants(value, DESCRIPTOR_FIELDS, path);
  const mediaType = reader.string(value, 'mediaType', path);
  if (!MEDIA_TYPE.test(mediaType)) throw reader.fail(join(path, 'mediaType'), 'a media type like type/subtype', mediaType);
  const descriptor: Descriptor = {
    mediaType,
    digest: reader.digest(value, 'digest', path),
    size: reader.size(value, 'size', path),
  };
  const urls = reader.optionalStringArray(value, 'urls', path);
  if (urls !== undefined) descriptor.urls = urls;
  const annotations = reader.optionalStringMap(value, 'annotations', path);
  if (annotations !== undefined) descriptor.annotations = annotations;
  const data = reader.optionalString(value, 'data', path);
  if (data !== undefined) {
    if (!BASE64.test(data)) throw reader.fail(join(path, 'data'), 'base64', data);
    const decoded = Buffer.from(data, 'base64');
    if (decoded.byteLength !== descriptor.size || digestOf(decoded) !== descriptor.digest) {
      throw invalidArgument(`${reader.label} field ${join(path, 'data')} does not match the descriptor's digest and size`);
    }
    descriptor.data = data;
  }
  const platform = reader.optionalObject(value, 'platform', path);
  if (platform !== undefined) descriptor.platform = readPlatform(reader, platform, join(path, 'platform'));
  const artifactType = reader.optionalString(value, 'artifactType', path);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  return descriptor;
}

/** Reads a platform object at path; architecture and os are required. */
function readPlatform(reader: JsonReader, value: JsonObject, path: string): Platform {
  reader.refuseCaseVariants(value, PLATFORM_FIELDS, path);
  const platform: Platform = { architecture: reader.string(value, 'architecture', path), os: reader.string(value, 'os', path) };
  const osVersion = reader.optionalString(value, 'os.version', path);
  if (osVersion !== undefined) platform['os.version'] = osVersion;
  const osFeatures = reader.optionalStringArray(value, 'os.features', path);
  if (osFeatures !== undefined) platform['os.features'] = osFeatures;
  const variant = reader.optionalString(value, 'variant', path);
  if (variant !== undefined) platform.variant = variant;
  const features = reader.optionalStringArray(value, 'features', path);
  if (features !== undefined) platform.features = features;
  return platform;
}

const MANIFEST_KINDS: ReadonlyMap<string, 'manifest' | 'index'> = new Map([
  [MediaTypes.ociManifest, 'manifest'],
  [MediaTypes.dockerManifest, 'manifest'],
  [MediaTypes.ociIndex, 'index'],
  [MediaTypes.dockerManifestList, 'index'],
]);

function checkSchemaVersion(reader: JsonReader, root: JsonObject): void {
  const version = root.schemaVersion;
  if (version === 2) return;
  if (version === undefined || version === null) throw reader.missing('schemaVersion');
  if (version === 1) throw invalidArgument(SCHEMA1_REFUSAL);
  throw reader.fail('schemaVersion', '2', version);
}

function readManifest(root: JsonObject): ImageManifest {
  const reader = new JsonReader('image manifest');
  const manifest: ImageManifest = {
    schemaVersion: 2,
    config: readDescriptor(reader, root.config, 'config'),
    layers: reader.array(root, 'layers', '').map((layer, i) => readDescriptor(reader, layer, `layers[${i}]`)),
  };
  return withCommonFields(reader, root, manifest);
}

function readIndex(root: JsonObject, maxManifests: number): ImageIndex {
  const reader = new JsonReader('image index');
  const entries = reader.array(root, 'manifests', '');
  if (entries.length > maxManifests) {
    throw invalidArgument(`image index lists ${entries.length} manifests, over the limit of ${maxManifests}`, {
      fields: { manifests: entries.length, limit: maxManifests },
    });
  }
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: entries.map((entry, i) => readDescriptor(reader, entry, `manifests[${i}]`)),
  };
  return withCommonFields(reader, root, index);
}

function withCommonFields<T extends ImageManifest | ImageIndex>(reader: JsonReader, root: JsonObject, document: T): T {
  const mediaType = reader.optionalString(root, 'mediaType', '');
  if (mediaType !== undefined) document.mediaType = mediaType;
  const artifactType = reader.optionalString(root, 'artifactType', '');
  if (artifactType !== undefined) {
    if (!MEDIA_TYPE.test(artifactType)) throw reader.fail('artifactType', 'a media type like type/subtype', artifactType);
    document.artifactType = artifactType;
  }
  if (root.subject !== undefined && root.subject !== null) document.subject = readDescriptor(reader, root.subject, 'subject');
  const annotations = reader.optionalStringMap(root, 'annotations', '');
  if (annotations !== undefined) document.annotations = annotations;
  return document;
}

function shorten(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
