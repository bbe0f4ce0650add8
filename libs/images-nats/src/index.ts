export * from './nats-tag-store.js';
export * from './tag-key.js';
export * from './image-index-revision.js';
