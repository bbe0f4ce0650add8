export * from './registry-backend.js';
export * from './registry-error.js';
export * from './registry-handler.js';
export * from './registry-server.js';
export * from './local-backend.js';
export * from './digest-refs.js';
export * from './shared-blob-reads.js';
export { validateName, validateDigest, validateReference } from './routes.js';
export { parseRange, parseContentRange, type RangeRequest } from './http-io.js';
