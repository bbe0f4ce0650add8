import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'cli',
    include: ['src/**/*.spec.ts'],
    // The up/down integration test starts NATS and the layer-store.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
