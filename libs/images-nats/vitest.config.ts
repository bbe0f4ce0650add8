import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'images-nats',
    include: ['src/**/*.spec.ts'],
    // Integration tests start, stop and restart a real nats-server.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
