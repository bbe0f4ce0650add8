export * from './runtime.js';
export type { Attachment } from './attachment.js';
export type { LogRecord } from './log-reader.js';
export type { ExitRecord } from './state-files.js';
