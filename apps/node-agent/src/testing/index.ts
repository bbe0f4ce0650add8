export * from './test-stack.js';
export * from './fleet.js';
