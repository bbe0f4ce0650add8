export * from './test-registry.js';
