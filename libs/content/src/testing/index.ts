export * from './content-store-suite.js';
export * from './expect-error.js';
export * from './memory-metadata-store.js';
export * from './memory-store.js';
export * from './write-blob.js';
export * from './wrap-writers.js';
export { readBlob } from '../blob-bytes.js';
