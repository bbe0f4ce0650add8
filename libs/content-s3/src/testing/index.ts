export * from './s3rver.js';
