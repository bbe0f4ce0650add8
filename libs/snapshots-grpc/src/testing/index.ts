export * from './grpc-snapshotter-fixture.js';
