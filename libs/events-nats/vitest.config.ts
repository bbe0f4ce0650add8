import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'events-nats',
    include: ['src/**/*.spec.ts'],
    // Integration tests start and restart a real nats-server.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
