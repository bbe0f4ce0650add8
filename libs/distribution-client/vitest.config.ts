import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'distribution-client',
    include: ['src/**/*.spec.ts'],
  },
});
