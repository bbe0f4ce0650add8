export * from './types.js';
export * from './store.js';
export * from './validate.js';
export * from './filters.js';
export * from './leases.js';
export * from './gc.js';
export * from './publishing-store.js';
export * from './blob-bytes.js';
