export * from './events-stream.js';
export * from './nats-connection.js';
export * from './nats-event-sink.js';
export * from './events-config.js';
export * from './read-events.js';
