export * from './mount-cycle.js';
