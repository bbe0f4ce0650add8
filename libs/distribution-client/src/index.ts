export * from './upstream-config.js';
export * from './upstream.js';
export * from './registry-client.js';
export * from './verifying-stream.js';
export * from './registry-error.js';
export * from './challenge.js';
export * from './token-cache.js';
export { checkTarget, type AddressPolicy } from './address-policy.js';
export { MAX_REDIRECTS, type RequestBody } from './http-transport.js';
