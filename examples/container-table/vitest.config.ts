import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'container-table',
    include: ['src/**/*.spec.ts'],
    // The integration test starts and stops a real nats-server.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
