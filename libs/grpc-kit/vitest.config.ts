import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'grpc-kit',
    include: ['src/**/*.spec.ts'],
    // Integration tests spawn openssl and small node programs.
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
