import type { ImageInfo, ImageSource } from './ports.js';

/** Settings of {@link createCachedImageSource}. */
export interface CachedImageSourceOptions {
  /**
   * The image index's revision now (`createImageIndexRevision` of
   * @strata/images-nats), or undefined when it cannot be read.
   */
  revision: () => Promise<number | undefined>;
  /** Images kept, the least recently used dropped first; 256 by default. */
  maxEntries?: number;
}

/**
 * Names resolved through the tags of the image index alone: a name with a
 * digest (`repo@sha256:…`) is looked up in the layer-store's references,
 * and a bare hexadecimal word may be an image id prefix, matched against
 * every image; neither is kept.
 */
function resolvedByTags(ref: string): boolean {
  return !ref.includes('@') && !/^(?:sha256:)?[0-9a-f]+$/.test(ref);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * An ImageSource that keeps what source resolved, as a container's Create
 * asks for the same image again and again: a kept image is answered when
 * the image index's revision is still the one read before it was
 * resolved (no tag was set, moved or removed since), so one small NATS
 * request replaces the registry-mirror's inspect (a gRPC call that reads
 * the index and the layer-store). Without a revision, and for names not
 * resolved by tag (see resolvedByTags), every call goes to source. Errors
 * are never kept. The images answered are frozen (shared between calls).
 */
export function createCachedImageSource(source: ImageSource, options: CachedImageSourceOptions): ImageSource {
  const maxEntries = options.maxEntries ?? 256;
  const kept = new Map<string, { revision: number; image: ImageInfo }>();
  return {
    async inspect(ref, platform) {
      if (!resolvedByTags(ref)) return source.inspect(ref, platform);
      const revision = await options.revision();
      if (revision === undefined) return source.inspect(ref, platform);
      const key = `${ref}\n${platform ?? ''}`;
      const entry = kept.get(key);
      kept.delete(key);
      if (entry !== undefined && entry.revision === revision) {
        kept.set(key, entry);
        return entry.image;
      }
      // Kept under the revision read before the lookup: any change of the index after that reading, seen by the
      // lookup or not, moves the revision, so the entry is never answered for a state it was not resolved in.
      const image = deepFreeze(await source.inspect(ref, platform));
      kept.set(key, { revision, image });
      if (kept.size > maxEntries) kept.delete(kept.keys().next().value!);
      return image;
    },
  };
}
