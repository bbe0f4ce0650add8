import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'registry-http',
    include: ['src/**/*.spec.ts'],
  },
});
