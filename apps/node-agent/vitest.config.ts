import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'node-agent',
    include: ['src/**/*.spec.ts'],
  },
});
