import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'snapshots',
    include: ['src/**/*.spec.ts'],
  },
});
