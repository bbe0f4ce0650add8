export * from './store-image.js';
export * from './merged-view.js';
