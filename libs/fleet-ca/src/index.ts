export * from './certificate-info.js';
export * from './fleet-ca.js';
export * from './names.js';
export * from './tls-files.js';
