export * from './tag-store.js';
export * from './validate-tag-key.js';
export * from './image-changes.js';
