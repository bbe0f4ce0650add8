import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'diff-service',
    include: ['src/**/*.spec.ts'],
  },
});
