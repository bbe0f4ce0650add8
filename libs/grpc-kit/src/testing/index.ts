export * from './certificates.js';
export * from './process-healthy.js';
