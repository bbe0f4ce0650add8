export * from './types.js';
export * from './container-id.js';
export * from './container-name.js';
export * from './resolve-container.js';
export * from './container-state.js';
export * from './list-filters.js';
export * from './record-format.js';
export * from './mounts.js';
