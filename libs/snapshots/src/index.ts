export * from './types.js';
export * from './snapshotter.js';
export * from './errors.js';
export * from './validate.js';
export * from './filters.js';
