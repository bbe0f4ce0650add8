export * from './ports.js';
export * from './grpc-image-source.js';
export * from './record-store.js';
export * from './signals.js';
export * from './container-manager.js';
export * from './proto-convert.js';
export * from './containers-service.js';
export * from './node-status.js';
