import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'events-nats',
    include: ['src/**/*.spec.ts'],
  },
});
