import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'content-grpc',
    include: ['src/**/*.spec.ts'],
  },
});
