export * from './status.js';
export * from './server.js';
export * from './handlers.js';
export * from './client.js';
export * from './shutdown.js';
export * from './private-socket.js';
