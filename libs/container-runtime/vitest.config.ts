import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'container-runtime',
    include: ['src/**/*.spec.ts'],
  },
});
