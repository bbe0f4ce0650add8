import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'snapshots-grpc',
    include: ['src/**/*.spec.ts'],
  },
});
