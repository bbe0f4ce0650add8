export * from './test-stack.js';
