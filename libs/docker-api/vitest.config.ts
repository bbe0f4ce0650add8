import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'docker-api',
    include: ['src/**/*.spec.ts'],
  },
});
