import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'layer-diff',
    include: ['src/**/*.spec.ts'],
  },
});
