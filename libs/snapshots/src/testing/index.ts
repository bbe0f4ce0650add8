export * from './snapshotter-suite.js';
