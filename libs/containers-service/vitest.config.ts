import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'containers-service',
    include: ['src/**/*.spec.ts'],
  },
});
