export * from './memory-tag-store.js';
