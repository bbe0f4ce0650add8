import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'tar',
    include: ['src/**/*.spec.ts'],
  },
});
