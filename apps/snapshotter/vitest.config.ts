import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'snapshotter',
    include: ['src/**/*.spec.ts'],
    // Integration tests start the real service (and NATS), kill and restart it.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
