import { putBlob, type Labels, type Store } from '@strata/content';
import type { BuiltImage } from '@strata/image-fixtures';

/**
 * Writes an image fixture's layers, config and manifest into a content
 * store (labels on each), as a pull would have left them. Raises what the
 * store raises.
 */
export async function storeImage(store: Store, image: BuiltImage, labels: Labels = {}): Promise<void> {
  for (const blob of [...image.blobs, image.manifest]) await putBlob(store, blob.digest, blob.bytes, labels, 'fixture');
}
