import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'layer-store',
    include: ['src/**/*.spec.ts'],
  },
});
