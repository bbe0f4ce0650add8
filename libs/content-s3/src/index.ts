export type { S3ConnectionOptions } from './s3-connection.js';
export { createS3MetadataStore } from './s3-metadata-store.js';
export { createS3Content, createS3Store, type S3Content, type S3StoreOptions } from './s3-store.js';
