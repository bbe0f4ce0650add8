export * from './apply-layer.js';
export * from './diff-layer.js';
export * from './tar-reader.js';
export * from './decompress.js';
export * from './overlay-changes.js';
export { makeFifo } from './fs-tools.js';
export * from './rooted-files.js';
export { cleanComponents, type Root } from './root-path.js';
