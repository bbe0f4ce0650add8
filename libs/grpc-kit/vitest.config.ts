import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'grpc-kit',
    include: ['src/**/*.spec.ts'],
  },
});
