import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'registry-proxy',
    include: ['src/**/*.spec.ts'],
  },
});
