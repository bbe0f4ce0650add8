import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'content-fs',
    include: ['src/**/*.spec.ts'],
  },
});
