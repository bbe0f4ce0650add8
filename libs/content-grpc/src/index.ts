export * from './content-service.js';
export * from './grpc-store.js';
export { WINDOW_BYTES } from './remote-writer.js';
export { createDataHandler, type DataHandler, type DataHandlerOptions, type HeldWriter } from './data-handler.js';
export { startDataServer, type DataServer, type DataServerOptions } from './data-server.js';
export * from './same-host-config.js';
