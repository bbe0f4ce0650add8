import { createLeaseManager, type LeaseManager, type MetadataStore, type Store } from '@strata/content';
import { createFsMetadataStore } from './fs-metadata-store.js';
import { fsLayout, openFsStore, type FsStoreOptions } from './fs-store.js';

/** A filesystem content store with the leases and metadata kept beside it. */
export interface FsContent {
  store: Store;
  /** Leases under `metadata/leases/` of the same root. */
  leases: LeaseManager;
  /** The root's `metadata/` directory (labels, leases). */
  metadata: MetadataStore;
}

/**
 * Opens the content of a root as the layer-store serves it: the Store of
 * createFsStore, and leases in the same metadata directory, so that
 * collectGarbage sees what they hold. Errors as createFsStore.
 */
export async function createFsContent(options: FsStoreOptions): Promise<FsContent> {
  const metadata = createFsMetadataStore(fsLayout(options.root).metadata);
  const store = await openFsStore(options, metadata);
  return { store, leases: createLeaseManager(metadata), metadata };
}
