export * from './resources.js';
export * from './recording-event-sink.js';
export * from './raised.js';
