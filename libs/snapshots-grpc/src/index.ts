export * from './snapshots-service.js';
export * from './grpc-snapshotter.js';
export * from './snapshot-events.js';
