export { createFsStore, openFsStore, fsLayout, type FsStoreOptions } from './fs-store.js';
export { createFsMetadataStore } from './fs-metadata-store.js';
export { createFsContent, type FsContent } from './fs-content.js';
