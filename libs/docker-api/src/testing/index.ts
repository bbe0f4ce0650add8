export * from './docker-request.js';
export * from './docker-cli.js';
