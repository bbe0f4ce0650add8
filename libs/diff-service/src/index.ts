export {
  APPLIED_MEDIA_TYPE,
  createDiffer,
  type CancelOptions,
  type Differ,
  type DifferOptions,
  type DiffOptions,
  type DiffResult,
  type UnpackProgress,
  type UnpackStatus,
} from './differ.js';
export * from './snapshot-labels.js';
export * from './layer-descriptor.js';
export * from './unpack-leftovers.js';
export * from './diff-service.js';
export * from './grpc-differ.js';
