export { createFsStore, openFsStore, fsLayout, blobPathOf, removeStaleImports, type FsStoreOptions } from './fs-store.js';
export { createFsMetadataStore } from './fs-metadata-store.js';
export { createFsContent, type FsContent } from './fs-content.js';
export { createFsBlobProvider, type FsBlobProviderOptions } from './fs-blob-provider.js';
export { READ_CHUNK } from './blob-file.js';
export { createFsIngestFollower, type FsIngestFollowerOptions } from './ingest-follower.js';
