import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'runtime-spec',
    include: ['src/**/*.spec.ts'],
  },
});
