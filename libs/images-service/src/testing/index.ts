export * from './recording-event-sink.js';
