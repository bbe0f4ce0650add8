import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'oci',
    include: ['src/**/*.spec.ts'],
  },
});
