export * from './test-bundle.js';
