export * from './digest.js';
export * from './reference.js';
export * from './media-types.js';
export * from './manifest.js';
export * from './image-config.js';
export * from './platform.js';
export * from './chain-id.js';
export * from './foreign-layers.js';
