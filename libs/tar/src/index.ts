export * from './tar-entry.js';
export * from './tar-header.js';
export * from './tar-writer.js';
export * from './tar-packer.js';
export * from './tar-directory.js';
export * from './gzip.js';
export * from './parallel-gzip.js';
