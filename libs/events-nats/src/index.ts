export * from './events-stream.js';
export * from './nats-connection.js';
export * from './nats-event-sink.js';
