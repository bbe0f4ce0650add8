export * from './nats-node-directory.js';
