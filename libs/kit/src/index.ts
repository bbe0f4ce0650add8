export * from './errors.js';
export * from './config.js';
export * from './logger.js';
export * from './events.js';
export * from './durable-fs.js';
export * from './processes.js';
export * from './run-program.js';
export * from './pause.js';
