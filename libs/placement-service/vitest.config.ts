import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'placement-service',
    include: ['src/**/*.spec.ts'],
  },
});
