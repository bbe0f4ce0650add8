export * from './record-fixture.js';
