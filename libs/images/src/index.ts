export * from './tag-store.js';
