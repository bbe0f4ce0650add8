export * from './network-fixture.js';
