export * from './node-record.js';
export * from './liveness-tracker.js';
