export * from './status.js';
export * from './server.js';
export * from './handlers.js';
export * from './client.js';
export * from './message-size.js';
export * from './shutdown.js';
export * from './private-socket.js';
export * from './tcp-config.js';
