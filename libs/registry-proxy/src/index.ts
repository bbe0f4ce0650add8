export * from './mirror-backend.js';
export * from './route-repository.js';
export * from './blob-fetcher.js';
