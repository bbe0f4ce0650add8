import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'image-fixtures',
    include: ['src/**/*.spec.ts'],
  },
});
