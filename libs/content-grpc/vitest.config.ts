import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'content-grpc',
    include: ['src/**/*.spec.ts'],
    // The contract suite writes 20 MiB blobs through gRPC to a store that fsyncs.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
