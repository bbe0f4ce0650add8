import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'content-s3',
    include: ['src/**/*.spec.ts'],
  },
});
