import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'cgroups',
    include: ['src/**/*.spec.ts'],
  },
});
