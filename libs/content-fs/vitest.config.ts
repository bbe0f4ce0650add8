import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'content-fs',
    include: ['src/**/*.spec.ts'],
    // fsync-bound tests and a child process on a busy two-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
