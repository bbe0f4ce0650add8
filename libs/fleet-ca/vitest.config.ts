import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'fleet-ca',
    include: ['src/**/*.spec.ts'],
  },
});
