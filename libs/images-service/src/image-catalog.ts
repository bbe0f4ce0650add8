import { isNotFound, notFound } from '@strata/kit';
import { GC_ROOT_LABEL, readBlob, type Store } from '@strata/content';
import type { TagRecord, TagStore } from '@strata/images';
import {
  MAX_INDEX_DEPTH,
  checkIndexDepth,
  formatPlatform,
  parseImageConfig,
  parseManifestDocument,
  selectPlatform,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageManifest,
  type ManifestDocument,
  type Platform,
} from '@strata/oci';
import { MEDIA_TYPE_LABEL, digestRefsOf, type DigestRef } from '@strata/registry-http';
import { ParsedDocuments } from './parsed-documents.js';

/** An image as stored: what its name points at, the platform's manifest, its config. */
export interface StoredImage {
  /** What the name points at: an index or a manifest. */
  target: Descriptor;
  /** The platform's image manifest (equals target for a single manifest). */
  manifest: Descriptor;
  manifestDocument: ImageManifest;
  config: Descriptor;
  configDocument: ImageConfig;
  /** The image id: the config digest. */
  id: Digest;
  /** Bytes of manifest, config and layers. */
  size: number;
}

/** A tag of the image index together with the image it names. */
export interface TaggedImage {
  record: TagRecord;
  image: StoredImage;
}

/** A digest reference (an image pulled by digest only) together with the image it names. */
export interface DigestedImage {
  ref: DigestRef;
  image: StoredImage;
}

/** Reads images from what the layer-store holds, never from an upstream; caches documents for one request. */
export interface ImageCatalog {
  /** A stored manifest or index, parsed; undefined when not stored (or stored as a plain blob). */
  document(digest: Digest): Promise<{ descriptor: Descriptor; parsed: ManifestDocument } | undefined>;
  /**
   * The image target names for platform: for an index, the entry
   * selectPlatform picks when its manifest is stored; unless strict, else
   * the first entry whose manifest and config are stored. Undefined when the
   * image is not stored; NotFound with selectPlatform's text when strict
   * and the index has no such platform.
   */
  image(target: Digest, platform: Platform, strict: boolean): Promise<StoredImage | undefined>;
  /** Every tag with its stored image (for the host platform), in TagStore order; tags of images not stored are left out. */
  tagged(): Promise<TaggedImage[]>;
  /**
   * Every digest reference (DIGEST_REF_LABEL_PREFIX labels on the roots of
   * the layer-store) with its stored image (for the host platform), by
   * domain, repository, then digest; references to images not stored are
   * left out.
   */
  digested(): Promise<DigestedImage[]>;
}

/** Settings of {@link createImageCatalog}. */
export interface ImageCatalogOptions {
  store: Store;
  tags: TagStore;
  /** The platform an index resolves to when none is asked for. */
  hostPlatform: Platform;
  /** Documents parsed by earlier catalogs (of earlier requests), kept across them; none by default. */
  parsed?: ParsedDocuments;
}

/** Bytes of the image's blobs as stored: manifest, config and layers. */
export function imageSize(manifest: Descriptor, document: ImageManifest): number {
  return manifest.size + document.config.size + document.layers.reduce((sum, layer) => sum + layer.size, 0);
}

/** The platform an image config declares, as written (`linux/arm64/v8` stays so). */
export function configPlatform(config: ImageConfig): Platform {
  return { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) };
}

/** Creates a catalog over store and tags for one request. */
export function createImageCatalog(options: ImageCatalogOptions): ImageCatalog {
  const { store, tags, hostPlatform } = options;
  const parsed = options.parsed ?? new ParsedDocuments(0);
  const documents = new Map<Digest, Promise<{ descriptor: Descriptor; parsed: ManifestDocument } | undefined>>();
  const configs = new Map<Digest, Promise<ImageConfig | undefined>>();
  const images = new Map<string, Promise<StoredImage | undefined>>();

  const document = (digest: Digest) => {
    let pending = documents.get(digest);
    if (pending === undefined) {
      pending = (async () => {
        let mediaType: string | undefined;
        let size: number;
        try {
          const info = await store.info(digest);
          mediaType = info.labels[MEDIA_TYPE_LABEL];
          size = info.size;
          if (mediaType === undefined) return undefined;
          const document = await parsed.get(`manifest ${mediaType} ${digest}`, async () => {
            const bytes = await readBlob(store, digest);
            return { value: parseManifestDocument(bytes, mediaType, { expectedDigest: digest }), bytes: bytes.length };
          });
          return { descriptor: { mediaType, digest, size }, parsed: document };
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      })();
      documents.set(digest, pending);
    }
    return pending;
  };

  /** The config digest names; a kept parse is used without asking the store (the manifest naming it was found there). */
  const config = (digest: Digest) => {
    let pending = configs.get(digest);
    if (pending === undefined) {
      pending = parsed
        .get(`config ${digest}`, async () => {
          const bytes = await readBlob(store, digest);
          return { value: parseImageConfig(bytes, { expectedDigest: digest }), bytes: bytes.length };
        })
        .catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        });
      configs.set(digest, pending);
    }
    return pending;
  };

  const fromManifest = async (target: Descriptor, manifest: Descriptor, parsed: ManifestDocument): Promise<StoredImage | undefined> => {
    if (parsed.kind !== 'manifest') return undefined;
    const configDocument = await config(parsed.document.config.digest);
    if (configDocument === undefined) return undefined;
    return {
      target,
      manifest,
      manifestDocument: parsed.document,
      config: parsed.document.config,
      configDocument,
      id: parsed.document.config.digest,
      size: imageSize(manifest, parsed.document),
    };
  };

  const resolve = async (target: Descriptor, digest: Digest, platform: Platform, strict: boolean, depth: number): Promise<StoredImage | undefined> => {
    const found = await document(digest);
    if (found === undefined) return undefined;
    if (found.parsed.kind === 'manifest') return fromManifest(target, found.descriptor, found.parsed);
    checkIndexDepth(depth, MAX_INDEX_DEPTH);
    const index = found.parsed.document;
    let chosen: Descriptor | undefined;
    try {
      chosen = selectPlatform(index, platform);
    } catch (err) {
      if (!isNotFound(err) || strict) throw err;
    }
    if (chosen !== undefined) {
      const image = await resolve(target, chosen.digest, platform, strict, depth + 1);
      if (image !== undefined || strict) return image;
    }
    for (const entry of index.manifests) {
      if (entry.digest === chosen?.digest) continue;
      const image = await resolve(target, entry.digest, platform, false, depth + 1);
      if (image !== undefined) return image;
    }
    return undefined;
  };

  const image = (digest: Digest, platform: Platform, strict: boolean) => {
    const key = `${digest} ${formatPlatform(platform)} ${strict}`;
    let pending = images.get(key);
    if (pending === undefined) {
      pending = (async () => {
        const top = await document(digest);
        if (top === undefined) return undefined;
        return resolve(top.descriptor, digest, platform, strict, 1);
      })();
      images.set(key, pending);
    }
    return pending;
  };

  return {
    document,
    image,
    async tagged() {
      const out: TaggedImage[] = [];
      for (const record of await tags.list()) {
        const found = await image(record.digest, hostPlatform, false);
        if (found !== undefined) out.push({ record, image: found });
      }
      return out;
    },
    async digested() {
      const refs: DigestRef[] = [];
      for await (const info of store.walk([`labels.${GC_ROOT_LABEL}`])) refs.push(...digestRefsOf(info));
      refs.sort((a, b) => compare(a.domain, b.domain) || compare(a.repository, b.repository) || compare(a.digest, b.digest));
      const out: DigestedImage[] = [];
      for (const ref of refs) {
        const found = await image(ref.digest, hostPlatform, false);
        if (found !== undefined) out.push({ ref, image: found });
      }
      return out;
    },
  };
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** NotFound in Docker's words: `No such image: <name>`. */
export function noSuchImage(name: string) {
  return notFound(`No such image: ${name}`, { fields: { ref: name.slice(0, 200) } });
}
