import { failedPrecondition, invalidArgument, isNotFound } from '@strata/kit';
import { GC_REF_CONTENT_PREFIX, MAX_LABELS, readBlob, type Labels, type Store } from '@strata/content';
import { isIndexMediaType, type Descriptor, type Digest, type ImageManifest, type ManifestDocument } from '@strata/oci';
import { MEDIA_TYPE_LABEL } from '@strata/registry-http';
import type { ImageCatalog, StoredImage } from './image-catalog.js';

/** Labels of a stored manifest besides its references (media type, root, subject, artifact type). */
const OWN_LABELS = 4;

/**
 * The `strata.gc.ref.content.*` labels of a manifest or index: its config
 * and stored layers (`config`, `l.<i>`), or its manifests (`m.<i>`), one per
 * distinct digest, in the form the registry backends write them. Foreign
 * layers (with `urls`) are left out. InvalidArgument when there are more
 * than a blob's labels can hold.
 */
export function referenceLabels(parsed: ManifestDocument): Labels {
  const refs: Array<[string, Digest]> = [];
  if (parsed.kind === 'manifest') {
    refs.push(['config', parsed.document.config.digest]);
    parsed.document.layers.forEach((layer, i) => {
      if (layer.urls === undefined || layer.urls.length === 0) refs.push([`l.${i}`, layer.digest]);
    });
  } else {
    parsed.document.manifests.forEach((m, i) => refs.push([`m.${i}`, m.digest]));
  }
  const labels: Labels = {};
  const seen = new Set<Digest>();
  for (const [key, digest] of refs) {
    if (seen.has(digest)) continue;
    seen.add(digest);
    labels[`${GC_REF_CONTENT_PREFIX}.${key}`] = digest;
  }
  if (seen.size > MAX_LABELS - OWN_LABELS) {
    throw invalidArgument(`manifest references ${seen.size} blobs or manifests, over the limit of ${MAX_LABELS - OWN_LABELS}`);
  }
  return labels;
}

/** Labels a stored blob as the manifest or index parsed describes: its media type and its references. NotFound when absent. */
export async function labelManifest(store: Store, digest: Digest, parsed: ManifestDocument): Promise<void> {
  const labels: Labels = { ...referenceLabels(parsed), [MEDIA_TYPE_LABEL]: parsed.mediaType };
  await store.update(
    digest,
    labels,
    Object.keys(labels).map((k) => `labels.${k}`),
  );
}

/** A manifest of an {@link ImageTree}: its descriptor, exact bytes and document. */
export interface TreeManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  document: ImageManifest;
}

/** Everything that makes up an image as it moves (push, save): the top document, its manifests, their blobs. */
export interface ImageTree {
  /** What the name points at (an index or a manifest) and its exact bytes. */
  top: { descriptor: Descriptor; bytes: Buffer };
  /** The image manifests: the index's entries, or the top manifest alone. */
  manifests: TreeManifest[];
  /** Distinct blobs: every manifest's layers (bottom first) then its config; foreign layers left out. */
  blobs: Descriptor[];
}

const isForeign = (layer: Descriptor) => layer.urls !== undefined && layer.urls.length > 0;

async function storedSize(store: Store, digest: Digest): Promise<number | undefined> {
  try {
    return (await store.info(digest)).size;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * The tree of image as stored. An index is taken whole when every one of
 * its manifests is stored with its config and layers; otherwise (a pull
 * keeps only the platform it pulled) the image's own platform manifest
 * stands for it, as a single-platform image. FailedPrecondition when a
 * blob of the manifest is missing or has another size than the manifest
 * says.
 */
export async function imageTree(store: Store, catalog: ImageCatalog, image: StoredImage): Promise<ImageTree> {
  const blobsOf = (manifests: readonly TreeManifest[]): Descriptor[] => {
    const seen = new Map<Digest, Descriptor>();
    for (const { document } of manifests) {
      for (const layer of document.layers) if (!isForeign(layer) && !seen.has(layer.digest)) seen.set(layer.digest, layer);
      if (!seen.has(document.config.digest)) seen.set(document.config.digest, document.config);
    }
    return [...seen.values()];
  };
  const complete = async (blobs: readonly Descriptor[]): Promise<Descriptor | undefined> => {
    for (const blob of blobs) if ((await storedSize(store, blob.digest)) !== blob.size) return blob;
    return undefined;
  };

  if (image.target.digest !== image.manifest.digest && isIndexMediaType(image.target.mediaType)) {
    const top = await catalog.document(image.target.digest);
    if (top !== undefined && top.parsed.kind === 'index') {
      const manifests: TreeManifest[] = [];
      for (const entry of top.parsed.document.manifests) {
        const found = await catalog.document(entry.digest);
        if (found === undefined || found.parsed.kind !== 'manifest') break;
        manifests.push({ descriptor: entry, bytes: await readBlob(store, entry.digest), document: found.parsed.document });
      }
      if (manifests.length === top.parsed.document.manifests.length) {
        const blobs = blobsOf(manifests);
        if ((await complete(blobs)) === undefined) {
          return { top: { descriptor: image.target, bytes: await readBlob(store, image.target.digest) }, manifests, blobs };
        }
      }
    }
  }
  const manifest: TreeManifest = { descriptor: image.manifest, bytes: await readBlob(store, image.manifest.digest), document: image.manifestDocument };
  const blobs = blobsOf([manifest]);
  const missing = await complete(blobs);
  if (missing !== undefined) {
    throw failedPrecondition(`image ${image.id}: blob ${missing.digest} of its manifest ${image.manifest.digest} is not stored here (or has another size); pull the image again`, {
      fields: { digest: missing.digest },
    });
  }
  return { top: { descriptor: image.manifest, bytes: manifest.bytes }, manifests: [manifest], blobs };
}
