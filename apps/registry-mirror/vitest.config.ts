import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'registry-mirror',
    include: ['src/**/*.spec.ts'],
    // Integration tests start NATS, the layer-store, the mirror and skopeo.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
