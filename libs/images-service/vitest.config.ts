import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'images-service',
    include: ['src/**/*.spec.ts'],
  },
});
