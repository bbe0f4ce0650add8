import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'images',
    include: ['src/**/*.spec.ts'],
  },
});
