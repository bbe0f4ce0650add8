import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'nodes-nats',
    include: ['src/**/*.spec.ts'],
  },
});
