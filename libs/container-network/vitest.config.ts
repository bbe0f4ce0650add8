import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'container-network',
    include: ['src/**/*.spec.ts'],
  },
});
