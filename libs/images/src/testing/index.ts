export * from './memory-tag-store.js';
export * from './tag-store-suite.js';
