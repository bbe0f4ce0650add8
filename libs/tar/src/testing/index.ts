export * from './raw-entry.js';
export * from './hostile-tar.js';
export * from './gnu-tar.js';
