export * from './content-service.js';
export * from './grpc-store.js';
export { WINDOW_BYTES } from './remote-writer.js';
