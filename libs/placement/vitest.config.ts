import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'placement',
    include: ['src/**/*.spec.ts'],
  },
});
